// --help, man pages and shell completion all come from each verb's help data: check that they
// agree, that every option the help names is one the parser takes, and drive bash's completion.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { catalog } from '../src/cli/catalog.js';
import { optionNames, parseHelp } from '../src/cli/help.js';
import { verbModule } from '../src/cli/main.js';
import { pageName } from '../src/cli/man.js';
import { BALE, REPO, bale, baleOk, tmpDir } from './helpers.js';
import { seedBusybox, seedImage } from './images.js';

const MAN = path.join(REPO, 'dist', 'man');

/** The options of a man page as written by roff: '.TP' then the flags line, then the text. */
function manOptions(file: string): { flags: string[]; text: string }[] {
  const src = readFileSync(file, 'utf8');
  const section = src.split('.SH OPTIONS\n')[1]?.split('\n.SH ')[0] ?? '';
  return section
    .split('.TP\n')
    .filter(Boolean)
    .map((block) => {
      const [flagLine, ...text] = block.trim().split('\n');
      const flags = [...flagLine!.matchAll(/\\fB(.*?)\\fR/g)].map((m) => m[1]!.replace(/\\-/g, '-'));
      return { flags, text: text.join(' ').replace(/\\-/g, '-').replace(/\\e/g, '\\').replace(/\\&/g, '') };
    });
}

/** What `bale WORDS --help` prints: a real process for a few verbs, the verb's own run() (in this process) for the rest. */
async function helpOutput(root: string, words: string[], real: boolean): Promise<string> {
  if (real) return baleOk(root, [...words, '--help']);
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = (b: string | Uint8Array) => ((out += String(b)), true);
  try {
    const { main } = await import('../src/cli/main.js');
    assert.is(await main([...words, '--help']), 0);
  } finally {
    process.stdout.write = write;
  }
  return out;
}

test("each verb's --help and its man page name the same options with the same text", async () => {
  const t = tmpDir();
  try {
    const entries = await catalog();
    assert.ok(entries.length > 30);
    for (const e of entries) {
      const out = await helpOutput(t.dir, e.words, ['images', 'run', 'image prune'].includes(e.words.join(' ')));
      const help = parseHelp(out);
      assert.is(help.usage, e.help.usage, e.words.join(' '));
      const page = path.join(MAN, `${pageName(e)}.1`);
      const man = manOptions(page);
      const fromHelp = help.options.filter((o) => !/--help/.test(o.flags) || e.help.options.some((x) => x.flags === o.flags));
      assert.equal(man.map((o) => o.flags), fromHelp.map((o) => optionNames(o)), `${pageName(e)}: options`);
      assert.equal(man.map((o) => o.text), fromHelp.map((o) => o.text), `${pageName(e)}: option text`);
      const synopsis = /\.SH SYNOPSIS\n\.B (.*)\n/.exec(readFileSync(page, 'utf8'))![1]!.replace(/\\-/g, '-');
      assert.is(synopsis, e.help.usage);
    }
  } finally {
    t.cleanup();
  }
});

test('package.json installs exactly the man pages the build writes, and man reads them', async () => {
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { man: string[] };
  const built = readdirSync(MAN).sort();
  assert.equal(pkg.man.map((m) => path.basename(m)).sort(), built, "package.json's man list is the generated pages (add new verbs' pages there)");
  assert.ok(built.includes('bale.1') && built.includes('bale-run.1') && built.includes('bale-image-prune.1'));
  const r = spawnSync('man', ['-l', path.join(MAN, 'bale-run.1')], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '200', MANPAGER: 'cat', PAGER: 'cat' } });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /bale-run - Run a command in a new container/);
  assert.match(r.stdout, /--entrypoint CMD/);
  const main = spawnSync('man', ['-l', path.join(MAN, 'bale.1')], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '200', MANPAGER: 'cat' } });
  for (const e of await catalog()) if (e.words.length === 1) assert.match(main.stdout, new RegExp(`\\b${e.words[0]}\\b`), `bale(1) lists ${e.words[0]}`);
});

test('every option a help names is one its verb parses', async () => {
  const write = process.stdout.write.bind(process.stdout);
  for (const e of await catalog()) {
    if (e.subverbs) continue;
    const mod = (await verbModule(e.words[0]!, e.words[1]))!;
    for (const o of e.help.options) {
      for (const name of optionNames(o)) {
        const args = ['--help', o.arg ? `${name}=x` : name];
        process.stdout.write = () => true;
        try {
          assert.is(await mod.run(args), 0, `${e.words.join(' ')} ${args.join(' ')}`);
        } finally {
          process.stdout.write = write;
        }
      }
    }
  }
});

/** Run bash's completion for a command line (the cursor at its end), as bash would split it. */
function complete(script: string, root: string, line: string, cwd: string): string[] {
  const driver = `${script}
line=${JSON.stringify(line)}
read -ra COMP_WORDS <<< "$line"
# bash splits words at colons too (COMP_WORDBREAKS): busybox:l is three words.
words=(); for w in "\${COMP_WORDS[@]}"; do while [[ "$w" == *:* ]]; do words+=("\${w%%:*}" ":"); w="\${w#*:}"; done; words+=("$w"); done
COMP_WORDS=("\${words[@]}")
[[ "$line" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
COMP_LINE="$line"; COMP_POINT=\${#line}
complete -p bale >/dev/null || exit 3
_bale
printf '%s\\n' "\${COMPREPLY[@]}"
`;
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', driver], {
    encoding: 'utf8',
    cwd,
    env: { ...process.env, BALE_ROOT: root, PATH: `${path.dirname(BALE)}:${process.env['PATH']}` },
  });
  assert.is(r.status, 0, `bash: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).sort();
}

test('bash completion: verbs, subverbs, options, option values, files, image and container names from the store', async () => {
  const t = tmpDir();
  try {
    await seedBusybox(t.dir);
    await seedImage(t.dir, { layers: [[{ name: 'a', content: 'A' }]], tags: ['registry.example.com/app:1.0', 'app:2'] });
    await baleOk(t.dir, ['create', '--name', 'webby', 'busybox', 'true']);
    const cwd = path.join(t.dir, 'cwd');
    mkdirSync(cwd);
    writeFileSync(path.join(cwd, 'out.tar'), '');
    const script = await baleOk(t.dir, ['completion', 'bash']);
    const c = (line: string) => complete(script, t.dir, line, cwd);
    assert.equal(c('bale im'), ['image', 'images', 'import']);
    assert.equal(c('bale image pr'), ['prune']);
    assert.equal(c('bale image prune -'), ['--all', '--force', '--help', '-a', '-f', '-h']);
    assert.equal(c('bale images --f'), ['--filter', '--format']);
    assert.equal(c('bale images --format '), ['json', 'table']);
    assert.equal(c('bale save --compress z'), ['zstd']);
    assert.equal(c('bale images -f d'), ['dangling=false', 'dangling=true']);
    assert.equal(c('bale ps --filter status=e'), ['status=exited']);
    assert.equal(c('bale save -o ou'), ['out.tar']);
    assert.equal(c('bale rmi bus'), ['busybox:latest']);
    assert.equal(c('bale rmi '), ['app:2', 'busybox:latest', 'registry.example.com/app:1.0']);
    assert.equal(c('bale run busybox:l'), ['latest'], 'after a colon, only the rest of the name');
    assert.equal(c('bale rm we'), ['webby']);
    assert.equal(c('bale container stop '), ['webby']);
    // No store at all: no names, and no error in the command line.
    assert.equal(complete(script, path.join(t.dir, 'nowhere', 'x'), 'bale rmi ', cwd), []);
  } finally {
    t.cleanup();
  }
});

test('zsh and fish scripts are made from the same table', async () => {
  const t = tmpDir();
  try {
    const zsh = await baleOk(t.dir, ['completion', 'zsh']);
    assert.match(zsh, /^#compdef bale\n/);
    assert.match(zsh, /bashcompinit/);
    const fish = await baleOk(t.dir, ['completion', 'fish']);
    for (const e of await catalog()) {
      if (e.words.length === 1) assert.match(fish, `-a ${e.words[0]} -d `);
    }
    assert.match(fish, "-n '__fish_seen_subcommand_from image; and __fish_seen_subcommand_from prune' -s a -l all");
    assert.match(fish, "-l format -x -a 'table json'");
    const r = await bale(t.dir, ['completion', 'tcsh']);
    assert.is(r.code, 2);
    assert.match(r.stderr, 'no completion for "tcsh"');
  } finally {
    t.cleanup();
  }
});

test('colour only on a terminal, never with NO_COLOR', async () => {
  const t = tmpDir();
  try {
    const onTty = (env: Record<string, string>) =>
      spawnSync('script', ['-qec', `${BALE} images --help`, '/dev/null'], { encoding: 'utf8', env: { ...process.env, BALE_ROOT: t.dir, TERM: 'xterm', ...env } });
    const tty = onTty({});
    assert.is(tty.status, 0, tty.stderr);
    assert.match(tty.stdout, '\x1b[1mUsage:\x1b[22m');
    const noColor = onTty({ NO_COLOR: '1' });
    assert.not.match(noColor.stdout, '\x1b[');
    assert.match(noColor.stdout, 'Usage: bale images');
    assert.not.match(await baleOk(t.dir, ['images', '--help']), '\x1b[', 'not on a pipe');
  } finally {
    t.cleanup();
  }
});

test.run();

// The Dockerfile parser and the .dockerignore matcher, in process (no root, no store): tables of
// inputs and what docker makes of them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isIgnored, parseIgnore, patternRegExp } from '../src/image/build/context.js';
import { DockerfileError, parseDockerfile } from '../src/image/build/parse.js';

const parse = (text: string) => parseDockerfile(text).instructions.map((i) => ({ line: i.line, name: i.name, flags: Object.fromEntries(i.flags), args: i.args, json: i.json }));

test('continuations join without the escape and newline; comments and blank lines inside are dropped', () => {
  const got = parse('FROM tiny\nRUN a \\\n && b \\\n# note\n\n && c\ncmd ["x", "y"]\n');
  assert.equal(got, [
    { line: 1, name: 'FROM', flags: {}, args: 'tiny', json: undefined },
    { line: 2, name: 'RUN', flags: {}, args: 'a  && b  && c', json: undefined },
    { line: 7, name: 'CMD', flags: {}, args: '["x", "y"]', json: ['x', 'y'] },
  ]);
});

test('parser directives: escape=` makes the backtick continue lines; directives only count at the top', () => {
  const df = parseDockerfile('# escape=`\nFROM tiny\nRUN dir C:\\ `\n  && echo\n');
  assert.is(df.escape, '`');
  assert.is(df.instructions[1]!.args, 'dir C:\\   && echo');
  // after an instruction, "# escape=" is only a comment
  assert.is(parseDockerfile('FROM tiny\n# escape=`\nRUN a \\\n b\n').escape, '\\');
  assert.throws(() => parseDockerfile('# escape=x\nFROM tiny\n'), /invalid escape token/);
});

test('flags, exec forms and errors naming the line', () => {
  const [, copy, from] = parse('FROM tiny AS a\nCOPY --from=a --chown=1:2 ["/x y", "/z/"]\nFROM --platform=linux/amd64 scratch\n');
  assert.equal(copy!.flags, { from: 'a', chown: '1:2' });
  assert.equal(copy!.json, ['/x y', '/z/']);
  assert.equal(from!.flags, { platform: 'linux/amd64' });
  // not JSON: shell form, kept as written
  assert.is(parse('FROM tiny\nCMD [not json\n')[1]!.json, undefined);
  for (const [text, want] of [
    ['FROM tiny\n\nBOGUS x\n', 'Dockerfile:3: unknown instruction: BOGUS'],
    ['# only a comment\n', 'Dockerfile:1: file with no instructions'],
    ['ARG X=1\nRUN true\n', 'Dockerfile:2: the first instruction (after ARGs) must be FROM'],
    ['FROM tiny\nRUN cat <<EOF\nline\n', 'Dockerfile:2: here-document <<EOF has no closing EOF line'],
  ] as const) {
    try {
      parseDockerfile(text);
      assert.unreachable(text);
    } catch (e) {
      assert.instance(e, DockerfileError);
      assert.is((e as Error).message, want);
    }
  }
});

const heredocs = (text: string) => parseDockerfile(text).instructions.map((i) => ({ line: i.line, name: i.name, args: i.args, heredocs: i.heredocs?.map((h) => ({ ...h })) }));

test('here-documents: bodies in order up to their word, <<- strips tabs, a quoted word turns expansion off', () => {
  const got = heredocs(
    'FROM tiny\n' +
      'RUN <<EOF\necho $A \\\n# not a comment\n\nEOF\n' +
      'COPY <<-"ONE" <<TWO /dst/\n\tx\n\t\ty\n\tONE\ntwo $B\nTWO\n' +
      "RUN cat <<'Q' > /f && echo \"<<NOT\" '<<NOT2'\n$Q\nQ\n" +
      'RUN ["sh", "-c", "cat <<EOF"]\n' +
      'ADD <<EOF /a\nEOF\n' +
      'ENV X=1\n',
  );
  assert.equal(got, [
    { line: 1, name: 'FROM', args: 'tiny', heredocs: undefined },
    // continuation and comment lines inside a body are the body's
    { line: 2, name: 'RUN', args: '<<EOF', heredocs: [{ name: 'EOF', token: '<<EOF', content: 'echo $A \\\n# not a comment\n\n', expand: true }] },
    {
      line: 7,
      name: 'COPY',
      args: '<<-"ONE" <<TWO /dst/',
      heredocs: [
        { name: 'ONE', token: '<<-"ONE"', content: 'x\ny\n', expand: false },
        { name: 'TWO', token: '<<TWO', content: 'two $B\n', expand: true },
      ],
    },
    { line: 13, name: 'RUN', args: 'cat <<\'Q\' > /f && echo "<<NOT" \'<<NOT2\'', heredocs: [{ name: 'Q', token: "<<'Q'", content: '$Q\n', expand: false }] },
    // the exec form has no here-documents
    { line: 16, name: 'RUN', args: '["sh", "-c", "cat <<EOF"]', heredocs: undefined },
    { line: 17, name: 'ADD', args: '<<EOF /a', heredocs: [{ name: 'EOF', token: '<<EOF', content: '', expand: true }] },
    { line: 19, name: 'ENV', args: 'X=1', heredocs: undefined },
  ]);
  // only RUN, COPY and ADD read bodies: elsewhere << is text
  assert.is(heredocs('FROM tiny\nLABEL a=<<EOF\n')[1]!.heredocs, undefined);
});

test('flags may repeat (RUN --mount): flagList keeps each in order', () => {
  const ins = parseDockerfile('FROM tiny\nRUN --mount=type=cache,target=/a --network=none --mount=type=tmpfs,target=/b true\n').instructions[1]!;
  assert.equal(ins.flagList, [['mount', 'type=cache,target=/a'], ['network', 'none'], ['mount', 'type=tmpfs,target=/b']]);
  assert.is(ins.args, 'true');
});

test('.dockerignore: globs, ** across directories, a matched directory covers what is below it, last match wins', () => {
  const rules = parseIgnore('# comment\n*.log\n!keep.log\nbuild/\n/abs\ndocs/**/*.md\n**/tmp\n');
  const cases: [string, boolean][] = [
    ['a.log', true],
    ['keep.log', false],
    ['sub/a.log', false], // *.log only matches at the top
    ['build', true],
    ['build/x/y.o', true],
    ['abs/file', true],
    ['docs/a.md', true],
    ['docs/x/y/z.md', true],
    ['docs/x/y/z.txt', false],
    ['deep/down/tmp/f', true],
    ['src/main.ts', false],
  ];
  for (const [p, want] of cases) assert.is(isIgnored(rules, p), want, p);
  assert.ok(patternRegExp('a?[bc]').test('axb'));
  assert.not.ok(patternRegExp('a*').test('a/b'));
});

test.run();

// Flag parsing and exit codes: unknown flags refused (a typo must not do something else), repeated
// and --no- flags, run's command left alone, and which exit code a failure gets.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseFlags, parseFlagsUntilCommand, needArgs } from '../../src/cli/verb.js';
import { exitCode } from '../../src/cli/main.js';
import { BaleError, FormatError, UsageError, wrap } from '../../src/util/errors.js';
import { formatPlatform, parsePlatform, platformMatches } from '../../src/oci/platform.js';

test('unknown flags are usage errors naming the verb help', () => {
  assert.throws(
    () => parseFlags(['--bogus'], { boolean: ['quiet'] }, 'images'),
    (e: Error) => e instanceof UsageError && e.message === "unknown flag --bogus (see 'bale images --help')",
  );
  assert.throws(() => parseFlags(['--bogus=1'], {}, 'gc'), /unknown flag --bogus \(/);
});

test('--platform: os/arch[/variant] parsed one way for every verb; a variant counts only where both name one', () => {
  assert.equal(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.equal(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
  for (const bad of ['linux', 'linux/', '/amd64', 'linux/arm/v7/x', 'linux//v7']) {
    assert.throws(() => parsePlatform(bad), (e: Error) => e instanceof UsageError && e.message === `--platform takes os/arch[/variant], not ${JSON.stringify(bad)}`, bad);
  }
  const arm7 = parsePlatform('linux/arm/v7');
  assert.ok(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v7' }, arm7));
  assert.ok(platformMatches({ os: 'linux', architecture: 'arm' }, arm7), 'an entry without a variant serves any');
  assert.ok(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, parsePlatform('linux/arm')), 'no variant asked: any');
  assert.not.ok(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, arm7));
  assert.not.ok(platformMatches({ os: 'windows', architecture: 'arm' }, arm7));
  assert.ok(platformMatches(undefined, arm7), 'no platform recorded: any');
  assert.is(formatPlatform(arm7), 'linux/arm/v7');
  assert.is(formatPlatform(undefined), '?');
});

test('aliases, repeated flags, last value wins, --no- flags', () => {
  const p = parseFlags(['-q', '-c', 'A', '--change', 'B', '--format', 'x', '--format', 'json', '--no-trunc', 'img'], {
    boolean: ['quiet', 'no-trunc'],
    string: ['format'],
    multi: ['change'],
    alias: { q: 'quiet', c: 'change' },
  }, 'x');
  assert.is(p['quiet'], true);
  assert.equal(p['change'], ['A', 'B']);
  assert.is(p['format'], 'json');
  assert.is(p['no-trunc'], true);
  assert.equal(p._, ['img']);
  assert.equal(parseFlags([], { multi: ['change'] }, 'x')['change'], []);
});

test('positionals stay as typed: a short id that reads as a number is still that id', () => {
  assert.equal(parseFlags(['279301357e69', '0123', '5'], {}, 'rmi')._, ['279301357e69', '0123', '5']);
});

test("run's command keeps its own flags", () => {
  const spec = { boolean: ['rm'], string: ['name'], multi: ['env'], alias: { e: 'env' } };
  const p = parseFlagsUntilCommand(['--rm', '-e', 'A=1', '--name', 'n', 'busybox', 'sh', '-c', 'echo --rm'], spec, 'run');
  assert.equal(p._, ['busybox', 'sh', '-c', 'echo --rm']);
  assert.equal(p['env'], ['A=1']);
  assert.is(p['name'], 'n');
  assert.equal(parseFlagsUntilCommand(['--', 'img', '-x'], spec, 'run')._, ['img', '-x']);
});

test('argument counts', () => {
  assert.throws(() => needArgs({ _: [] }, 1, 1, 'tag'), /needs 1 argument, got 0/);
  assert.throws(() => needArgs({ _: ['a', 'b', 'c'] }, 2, 2, 'tag'), /needs 2 arguments, got 3/);
  needArgs({ _: ['a'] }, 1, Infinity, 'save');
});

test('exit codes: 125 for bale failing in the container verbs, 2 for usage, 1 else, explicit codes kept', () => {
  assert.is(exitCode('run', new BaleError('No such image: x')), 125);
  assert.is(exitCode('exec', new UsageError('unknown flag --x')), 125);
  assert.is(exitCode('start', new Error('EACCES')), 125);
  assert.is(exitCode('run', new BaleError('the input device is not a TTY', { exitCode: 1 })), 1);
  assert.is(exitCode('images', new UsageError('unknown flag --x')), 2);
  assert.is(exitCode('load', new FormatError('x.tar: truncated')), 1);
  assert.is(exitCode('load', new Error('ENOSPC')), 1);
  assert.is(exitCode(undefined, new Error('x')), 1);
});

test('wrapped errors keep their class, code and cause, and say their prefix once', () => {
  const inner = new FormatError('entry "a": bad');
  const w = wrap('layer.tar', inner);
  assert.instance(w, FormatError);
  assert.is(w.message, 'layer.tar: entry "a": bad');
  assert.is(w.cause, inner);
  assert.is(wrap('layer.tar', w).message, 'layer.tar: entry "a": bad');
  assert.instance(wrap('x', new UsageError('y')), UsageError);
  assert.is(wrap('x', new BaleError('y', { exitCode: 7 })).exitCode, 7);
});

test.run();

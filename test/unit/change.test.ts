// The --change grammar (Dockerfile instructions for import, commit and squash), in process.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyChanges } from '../../src/image/change.js';

test('--change grammar: shell and exec forms, ENTRYPOINT resets an inherited CMD, errors name the line', () => {
  assert.equal(applyChanges({ Cmd: ['old'] }, ['ENTRYPOINT ["/e"]']), { Cmd: null, Entrypoint: ['/e'] });
  assert.equal(applyChanges({ Cmd: ['old'] }, ['CMD ["new"]', 'ENTRYPOINT ["/e"]']), { Cmd: ['new'], Entrypoint: ['/e'] });
  assert.equal(applyChanges({ Shell: ['/bin/bash', '-c'] }, ['cmd echo $HOME']), { Shell: ['/bin/bash', '-c'], Cmd: ['/bin/bash', '-c', 'echo $HOME'] });
  assert.equal(applyChanges({ Env: ['A=1'] }, ["ENV B='$A' C=\"$A\" D=${A:-x} E=${NOPE:-dflt}"]).Env, ['A=1', 'B=$A', 'C=1', 'D=1', 'E=dflt']);
  assert.equal(applyChanges({}, ['HEALTHCHECK NONE']).Healthcheck, { Test: ['NONE'] });
  assert.equal(applyChanges({}, ['HEALTHCHECK --timeout=1m30s CMD ["true"]']).Healthcheck, { Test: ['CMD', 'true'], Timeout: 90e9 });
  assert.equal(applyChanges({}, ['ENV A=1\nLABEL x=y']), { Env: ['A=1'], Labels: { x: 'y' } });
  assert.equal(applyChanges({}, ['STOPSIGNAL 9']).StopSignal, '9');
  assert.throws(() => applyChanges({}, ['EXPOSE 99999']), /invalid port/);
  assert.throws(() => applyChanges({}, ['STOPSIGNAL SIGNOPE']), /STOPSIGNAL/);
  assert.throws(() => applyChanges({}, ['LABEL']), /LABEL needs/);
  assert.throws(() => applyChanges({}, ['ENV A="open']), /unmatched double quote/);
  assert.throws(() => applyChanges({}, ['HEALTHCHECK --bogus=1 CMD x']), /unknown HEALTHCHECK flag/);
  assert.throws(() => applyChanges({}, ['ONBUILD FROM x']), /not allowed/);
  assert.throws(() => applyChanges({}, ['USER a b']), /exactly one/);
});

test.run();

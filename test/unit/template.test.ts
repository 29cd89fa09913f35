// inspect -f: the small part of Go templates people use.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderTemplate } from '../../src/cli/template.js';

const data = { Id: 'sha256:abc', Config: { Cmd: ['sh', '-c', 'x'], Env: [], Labels: { 'a.b': 'c' }, User: '' }, Size: 42, Nil: null };

test('fields, json, index, Go %v forms', () => {
  assert.is(renderTemplate('{{.Id}}', data), 'sha256:abc');
  assert.is(renderTemplate('{{ .Config.Cmd }}', data), '[sh -c x]');
  assert.is(renderTemplate('{{json .Config.Cmd}}', data), '["sh","-c","x"]');
  assert.is(renderTemplate('{{index .Config.Labels "a.b"}}', data), 'c');
  assert.is(renderTemplate('{{.Config.Labels}}', data), 'map[a.b:c]');
  assert.is(renderTemplate('{{.Size}} bytes', data), '42 bytes');
  // docker's inspect runs templates with missingkey=error
  assert.throws(() => renderTemplate('{{.Nope.Deeper}}', data), /map has no entry for key "Nope"/);
  assert.is(renderTemplate('{{json .Nil}}', data), 'null');
});

test.run();

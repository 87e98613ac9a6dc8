/** Which `eh run` command lines are Python jobs, with which interpreter and script (unit tests of logic). */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { bootstrapPath, DEFAULT_PYTHON, pythonCommand, pythonJobOf } from '../../src/agent/python/python-worker.js';
import { configFromOptions } from '../../src/cli/run.js';

test('a .py script is a Python job with /usr/bin/python3, or --python; `--no-node python3 train.py` is the same job', () => {
  assert.deepEqual(pythonJobOf('train.py', ['--epochs', '3'], { noNode: false }), { python: DEFAULT_PYTHON, script: 'train.py', args: ['--epochs', '3'] });
  assert.deepEqual(pythonJobOf('train.py', [], { noNode: false, python: '/opt/venv/bin/python' })?.python, '/opt/venv/bin/python');
  assert.deepEqual(pythonJobOf('python3', ['train.py', 'x'], { noNode: true }), { python: 'python3', script: 'train.py', args: ['x'] });
  assert.deepEqual(pythonJobOf('/usr/bin/python3.11', ['a/b.py'], { noNode: true })?.script, 'a/b.py');
  assert.equal(pythonJobOf('train.py', [], { noNode: true }), undefined, '--no-node train.py runs the file as an executable');
  assert.equal(pythonJobOf('python3', ['-m', 'pkg'], { noNode: true }), undefined, 'interpreter flags: run as given, through the shim');
  assert.equal(pythonJobOf('train.mjs', [], { noNode: false }), undefined);
  assert.equal(pythonJobOf('bash', ['run.py'], { noNode: true }), undefined);
});

test('the bootstrap ships with the package and the command runs it unbuffered, as torchrun runs a script', () => {
  assert.ok(existsSync(bootstrapPath()), bootstrapPath());
  const job = { python: DEFAULT_PYTHON, script: 'train.py', args: ['a'] };
  assert.deepEqual(pythonCommand(job, false), { file: DEFAULT_PYTHON, args: ['-u', bootstrapPath(), 'train.py', 'a'] });
  assert.deepEqual(pythonCommand(job, true).args.slice(2), ['--eh-standby']);
});

test('--python sets the interpreter; --no-python still means --no-node', () => {
  assert.equal(configFromOptions({ node: true, python: '/opt/py', monitorHost: '127.0.0.1' }).python, '/opt/py');
  const c = configFromOptions({ node: true, python: false, monitorHost: '127.0.0.1' });
  assert.equal(c.noNode, true);
  assert.equal(c.python, undefined);
  assert.equal(configFromOptions({ node: true, monitorHost: '127.0.0.1' }).noNode, false);
  assert.ok(configFromOptions({ node: true, python: '/opt/py', monitorHost: '127.0.0.1' }).toEhArgs().includes('--python=/opt/py'));
});

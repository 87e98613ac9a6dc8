/** Bad input to `eh run` and to setupDistributedEnvironment: exit 2 with one line naming the problem, or a ConfigurationError. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setupDistributedEnvironment, cleanupDistributed } from '../../src/collective/index.js';
import { ConfigurationError } from '../../src/errors/index.js';
import { FIXTURES, startAgent } from './harness.js';

const HELLO = join(FIXTURES, 'hello.mjs');

for (const [args, pattern] of [
  [['--standalone', 'no-such-script.mjs'], /no-such-script/],
  [['--nnodes', '3:2', HELLO], /--nnodes 3:2/],
  [['--standalone', '--nproc-per-node', '0', HELLO], /nproc-per-node/],
  [['--standalone', '--nproc-per-node', 'abc', HELLO], /--nproc-per-node takes a whole number/],
  [['--standalone', '--no-such-flag', HELLO], /unknown option/],
  [['--standalone', '--max-restarts', '-1', HELLO], /max-restarts/],
] as const) {
  test(`eh run ${args.join(' ')}: a clear refusal`, async () => {
    const a = startAgent([...args]);
    const { code } = await a.exited(30_000);
    assert.ok(code === 2 || (args[1] === 'no-such-script.mjs' && code !== 0), `exit ${String(code)}: ${a.stderr()}`);
    assert.match(a.stderr(), pattern);
  });
}

test('--nproc-per-node -1 blames that option only, not --standby-workers which was not given', async () => {
  const a = startAgent(['--standalone', '--nproc-per-node', '-1', HELLO]);
  assert.equal((await a.exited(30_000)).code, 2);
  assert.match(a.stderr(), /nproc-per-node/);
  assert.doesNotMatch(a.stderr(), /standby/);
});

test('one failed attempt with --max-restarts 0 reports 0 restarts done', async () => {
  const a = startAgent(['--standalone', '--max-restarts', '0', join(FIXTURES, 'crash.mjs')]);
  assert.equal((await a.exited(30_000)).code, 1);
  assert.match(a.stderr(), /attempts: 1; restarts: 0 of --max-restarts 0/);
});

test('--tee keeps a redirected stream on the console; --redirects alone keeps it off', async () => {
  const off = startAgent(['--standalone', '--redirects', '1', HELLO]);
  const on = startAgent(['--standalone', '--redirects', '1', '--tee', '1', HELLO]);
  assert.equal((await off.exited(30_000)).code, 0, off.stderr());
  assert.equal((await on.exited(30_000)).code, 0, on.stderr());
  assert.doesNotMatch(off.stdout(), /\[rank0\]:/);
  assert.match(on.stdout(), /\[rank0\]:/);
});

test("setupDistributedEnvironment: 'gloo' is the CPU engine, 'nccl' is refused with what to use, initMethod is checked", async () => {
  assert.equal((await setupDistributedEnvironment({ backend: 'gloo', env: {} })).worldSize, 1);
  await cleanupDistributed();
  await assert.rejects(setupDistributedEnvironment({ backend: 'nccl', env: {} }), (e: unknown) => e instanceof ConfigurationError && /no GPU collective/.test(e.message) && e.suggestions.some((s) => s.includes('gloo')));
  await assert.rejects(setupDistributedEnvironment({ initMethod: 'file:///tmp/x', env: {} }), (e: unknown) => e instanceof ConfigurationError && /initMethod/.test(e.message));
  assert.equal((await setupDistributedEnvironment({ initMethod: 'tcp://127.0.0.1:29500', env: {} })).worldSize, 1);
  await cleanupDistributed();
});

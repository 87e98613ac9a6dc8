/**
 * Every wait of the agent is interruptible: a stop signal while `eh run` still tries to reach its
 * store (a TCP store host not up yet, etcd down) ends it at once with 128+N, not at the join timeout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { FIXTURES, startAgent, waitFor } from './harness.js';
import { freePort } from '../helpers/ports.js';

// The join timeout is 600 s: an agent that ends within STOP_MS did not wait for it.
const STOP_MS = 15_000;

async function stopWhileConnecting(args: string[], signal: NodeJS.Signals, expected: number): Promise<void> {
  const agent = startAgent([...args, '--nproc-per-node', '1', join(FIXTURES, 'hello.mjs')]);
  // Let it get well into its connect loop first.
  await waitFor('the agent to start reaching its store', () => agent.stderr().includes('reaching the'), 20_000);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(agent.child.exitCode, null, `the agent is still trying to connect:\n${agent.stderr()}`);
  const sentAt = Date.now();
  agent.child.kill(signal);
  const end = await agent.exited(STOP_MS);
  assert.equal(end.code, expected, agent.stderr());
  assert.ok(Date.now() - sentAt < STOP_MS, 'ended at once');
  assert.match(agent.stderr(), new RegExp(`stopped by ${signal}`));
}

test('SIGTERM while the TCP store host is not up yet ends eh run at once with 143', async () => {
  const port = await freePort();
  await stopWhileConnecting(['--nnodes', '2', '--rdzv-backend', 'tcp', '--rdzv-endpoint', `127.0.0.1:${port}`, '--rdzv-conf', 'is_host=false,token=t0k'], 'SIGTERM', 143);
});

test('SIGINT while etcd is down ends eh run at once with 130', async () => {
  const port = await freePort();
  await stopWhileConnecting(['--nnodes', '2', '--rdzv-backend', 'etcd', '--rdzv-endpoint', `127.0.0.1:${port}`, '--rdzv-conf', 'token=t0k'], 'SIGINT', 130);
});

test('SIGTERM while waiting in the rendezvous for a node that never comes ends eh run with 143', async () => {
  const port = await freePort();
  await stopWhileConnecting(['--nnodes', '2', '--rdzv-backend', 'tcp', '--rdzv-endpoint', `127.0.0.1:${port}`, '--rdzv-conf', 'is_host=true,token=t0k'], 'SIGTERM', 143);
});

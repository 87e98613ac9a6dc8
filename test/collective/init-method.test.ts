/**
 * initMethod 'tcp://HOST:PORT' with torch's meaning, with real processes started by hand: rank 0 hosts
 * the store at that address (the others, started first, wait for it), or connects when a store already
 * listens there; the job token is required; a store in code and a tcp:// address together are refused.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { setupDistributedEnvironment } from '../../src/collective/index.js';
import { ConfigurationError, DistributedSetupError } from '../../src/errors/index.js';
import { MemoryStore, TcpStoreServer, generateToken } from '../../src/rendezvous/index.js';
import { freePort } from '../helpers/ports.js';
import { HERE, REPO } from './launch-helper.js';

const WORKER = path.join(HERE, 'init-worker.ts');

interface RankResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function startRank(rank: number, worldSize: number, port: number, token: string | undefined): Promise<RankResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(worldSize), LOCAL_WORLD_SIZE: String(worldSize), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), INIT_METHOD: `tcp://127.0.0.1:${port}` };
  for (const k of Object.keys(env)) if (k.startsWith('EH_') || k.startsWith('TORCHELASTIC_')) delete env[k];
  if (token !== undefined) env.EH_TOKEN = token;
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function sums(results: RankResult[]): number[] {
  return results.map((r) => {
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout.trim()) as { sum: number }).sum;
  });
}

test("tcp://HOST:PORT: rank 0 hosts the store there; ranks started before it wait for it", async () => {
  const port = await freePort();
  const token = generateToken();
  const others = [1, 2].map((r) => startRank(r, 3, port, token));
  await sleep(1500);
  const zero = startRank(0, 3, port, token);
  assert.deepEqual(sums(await Promise.all([zero, ...others])), [6, 6, 6]);
});

test('tcp://HOST:PORT where a store already listens: rank 0 connects to it, and the group lives in that store', async () => {
  const token = generateToken();
  const data = new MemoryStore();
  const server = await TcpStoreServer.start({ port: 0, token, store: data });
  try {
    assert.deepEqual(sums(await Promise.all([0, 1].map((r) => startRank(r, 2, server.port, token)))), [3, 3]);
    const keys = await data.keys('');
    assert.ok(keys.some((k) => k.includes('addr/0')) && keys.some((k) => k.includes('addr/1')), `both ranks published their address in the given store: ${keys.join(', ')}`);
  } finally {
    await server.close();
  }
});

test('tcp://HOST:PORT without EH_TOKEN is refused, naming it; a store in code beside it is refused', async () => {
  const port = await freePort();
  const r = await startRank(1, 2, port, undefined);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /initMethod 'tcp:\/\/127\.0\.0\.1:\d+' needs the job token: EH_TOKEN is not set/);
  const env = { RANK: '1', LOCAL_RANK: '1', WORLD_SIZE: '2', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), EH_TOKEN: 'a-token' };
  await assert.rejects(setupDistributedEnvironment({ env: { RANK: '1', LOCAL_RANK: '1', WORLD_SIZE: '2', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) }, initMethod: `tcp://127.0.0.1:${port}` }), (e: unknown) => e instanceof DistributedSetupError && /EH_TOKEN/.test(e.message));
  await assert.rejects(setupDistributedEnvironment({ env, initMethod: `tcp://127.0.0.1:${port}`, store: new MemoryStore() }), (e: unknown) => e instanceof ConfigurationError && /two stores/.test(e.message));
});

test('tcp://HOST:PORT whose HOST is not this machine: rank 0 says it cannot host the store there', async () => {
  const port = await freePort();
  const env = { RANK: '0', LOCAL_RANK: '0', WORLD_SIZE: '2', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), EH_TOKEN: 'a-token' };
  // 192.0.2.0/24 is TEST-NET-1: never an address of this host.
  await assert.rejects(setupDistributedEnvironment({ env, initMethod: `tcp://192.0.2.1:${port}`, timeoutMs: 2000 }), (e: unknown) => e instanceof DistributedSetupError && /rank 0 could not host the store/.test(e.message));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TcpStoreServer, generateToken } from '../../src/rendezvous/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));

test('two real ranks: maybeFinalizeAsyncCalls finalizes a call only once every rank finished it (collective min-allreduce)', { timeout: 90_000 }, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'eh-ckpt-agree-'));
  const token = generateToken();
  const server = await TcpStoreServer.start({ token, logger: () => undefined });
  const prefix = `agree-${process.pid}-${Date.now()}/`;
  const children = [0, 1].map((rank) =>
    spawn(process.execPath, ['--import', 'tsx', path.join(here, 'agreement-child.ts'), dir], {
      env: {
        ...process.env,
        RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: '2', LOCAL_WORLD_SIZE: '2', GROUP_RANK: '0',
        MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29500', TORCHELASTIC_RESTART_COUNT: '0', TORCHELASTIC_RUN_ID: 'ckpt-agree',
        EH_STORE_BACKEND: 'tcp', EH_STORE_ENDPOINT: server.endpoint, EH_TOKEN: token, EH_STORE_PREFIX: prefix,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  try {
    const settled = await Promise.allSettled(
      children.map(
        (c, rank) =>
          new Promise<Record<string, unknown>>((resolve, reject) => {
            let out = '';
            let err = '';
            c.stdout.on('data', (d: Buffer) => (out += d.toString()));
            c.stderr.on('data', (d: Buffer) => (err += d.toString()));
            const timer = setTimeout(() => reject(new Error(`rank ${rank} did not finish: ${err}`)), 80_000);
            c.on('exit', (code) => {
              clearTimeout(timer);
              const line = out.split('\n').find((l) => l.startsWith('@@'));
              if (code !== 0 || line === undefined) reject(new Error(`rank ${rank} exited ${code}: ${err}`));
              else resolve(JSON.parse(line.slice(2)) as Record<string, unknown>);
            });
          }),
      ),
    );
    const failures = settled.filter((x): x is PromiseRejectedResult => x.status === 'rejected').map((x) => String(x.reason));
    assert.deepEqual(failures, []);
    const results = settled.map((x) => (x as PromiseFulfilledResult<Record<string, unknown>>).value);
    for (const r of results) {
      // Rank 0 was done locally at the first call but rank 1 was not: the agreed answer is "not yet" on both.
      assert.deepEqual(r.early, [], `rank ${String(r.rank)}`);
      assert.deepEqual(r.blocking, [0]);
      assert.deepEqual(r.finalized, [0]);
      assert.deepEqual(r.saved, [0]);
      assert.deepEqual(r.loaded, [r.rank, 7]);
    }
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

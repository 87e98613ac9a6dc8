import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ConfigurationError, DistributedSetupError } from '../../src/errors/index.js';
import { connectStoreFromEnv, createStore, generateToken } from '../../src/rendezvous/index.js';
import { startEtcd, type EtcdHandle } from '../helpers/etcd.js';

const run = promisify(execFile);
const worker = fileURLToPath(new URL('./fixtures/env-worker.ts', import.meta.url));

describe('createStore and connectStoreFromEnv', () => {
  let etcd: EtcdHandle;
  before(async () => {
    etcd = await startEtcd();
  });
  after(() => etcd.stop());

  it('tcp: a hosting agent and a connecting agent share data; the host reports a usable endpoint', async () => {
    const token = generateToken();
    const host = await createStore({ backend: 'tcp', endpoint: '127.0.0.1:0', token, host: true, logger: () => undefined });
    try {
      assert.match(host.endpoint, /^127\.0\.0\.1:\d+$/);
      assert.notEqual(host.endpoint, '127.0.0.1:0');
      assert.ok(host.server !== undefined);
      const other = await createStore({ backend: 'tcp', endpoint: host.endpoint, token, timeoutMs: 2_000 });
      await other.set('x', '1');
      assert.equal(await host.get('x'), '1');
      assert.equal(await host.add('n', 5), 5);
      assert.equal(await other.add('n', 1), 6);
      await other.close();
    } finally {
      await host.close();
    }
  });

  for (const backend of ['tcp', 'etcd'] as const) {
    it(`${backend}: two real worker processes exchange addresses under the round prefix from the environment`, async () => {
      const token = generateToken();
      const host = backend === 'tcp' ? await createStore({ backend, endpoint: '127.0.0.1:0', token, host: true, logger: () => undefined }) : undefined;
      const endpoint = host?.endpoint ?? etcd.endpoint;
      const agent = host ?? (await createStore({ backend, endpoint, token, runId: 'job7' }));
      try {
        const env = { ...process.env, EH_STORE_BACKEND: backend, EH_STORE_ENDPOINT: endpoint, EH_TOKEN: token, EH_STORE_PREFIX: 'job7/round/3', TORCHELASTIC_RUN_ID: 'job7' };
        const [a, b] = await Promise.all(
          ['0', '1'].map((rank) => run(process.execPath, ['--import', 'tsx', worker], { env: { ...env, RANK: rank }, timeout: 30_000 })),
        );
        assert.match(a.stdout, /PEER worker-1/);
        assert.match(b.stdout, /PEER worker-0/);
        // The agent sees the workers' keys under the round's prefix, nowhere else.
        assert.deepEqual(await agent.keys('job7/round/3/'), ['job7/round/3/addr/0', 'job7/round/3/addr/1']);
        assert.equal(await agent.get('addr/0'), undefined);
      } finally {
        await agent.close();
      }
    });
  }

  it('connectStoreFromEnv names every missing variable', async () => {
    await assert.rejects(connectStoreFromEnv({ env: {} }), (err: unknown) => {
      assert.ok(err instanceof DistributedSetupError);
      assert.deepEqual(err.missingVars, ['EH_STORE_ENDPOINT', 'EH_TOKEN']);
      return true;
    });
    await assert.rejects(connectStoreFromEnv({ env: { EH_STORE_BACKEND: 'redis', EH_STORE_ENDPOINT: 'h:1', EH_TOKEN: 't' } }), ConfigurationError);
  });

  it('a worker with the wrong token is refused by both backends', async () => {
    const token = generateToken();
    const host = await createStore({ backend: 'tcp', endpoint: '127.0.0.1:0', token, host: true, logger: () => undefined });
    const agent = await createStore({ backend: 'etcd', endpoint: etcd.endpoint, token, runId: 'job-tok' });
    try {
      for (const [backend, endpoint] of [['tcp', host.endpoint], ['etcd', etcd.endpoint]] as const) {
        await assert.rejects(
          connectStoreFromEnv({ env: { EH_STORE_BACKEND: backend, EH_STORE_ENDPOINT: endpoint, EH_TOKEN: 'wrong', TORCHELASTIC_RUN_ID: 'job-tok' }, timeoutMs: 2_000 }),
          (err: unknown) => err instanceof DistributedSetupError && /token/.test(err.message),
        );
      }
    } finally {
      await agent.close();
      await host.close();
    }
  });

  it('rejects unknown backends and host=true with etcd', async () => {
    await assert.rejects(createStore({ backend: 'zk' as 'tcp', endpoint: 'h:1', token: 't' }), ConfigurationError);
    await assert.rejects(createStore({ backend: 'etcd', endpoint: 'h:1', token: 't', host: true }), ConfigurationError);
  });
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DistributedSetupError } from '../../src/errors/index.js';
import { connectStoreFromEnv, createStore } from '../../src/rendezvous/index.js';
import { startEtcd } from '../helpers/etcd.js';

const TOKEN = 'tls-token';

/** A throw-away CA, a server certificate for 127.0.0.1, and a client certificate, made with openssl. */
function makeCerts(dir: string): Record<'ca' | 'caKey' | 'server' | 'serverKey' | 'client' | 'clientKey', string> {
  const f = (name: string): string => path.join(dir, name);
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore' });
  };
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '1', '-subj', '/CN=eh-test-ca');
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    writeFileSync(f(`${name}.ext`), `${ext}\n`);
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name === 'server' ? '127.0.0.1' : 'eh-agent'}`);
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.crt`), '-days', '1', '-extfile', f(`${name}.ext`));
  }
  return { ca: f('ca.crt'), caKey: f('ca.key'), server: f('server.crt'), serverKey: f('server.key'), client: f('client.crt'), clientKey: f('client.key') };
}

describe('EtcdStore over TLS with client certificates', () => {
  it('connects with the CA and a client certificate; without a client certificate it is refused', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'eh-tls-'));
    const certs = makeCerts(dir);
    const etcd = await startEtcd({
      tls: { certFile: certs.server, keyFile: certs.serverKey, caFile: certs.ca, clientCertAuth: true, clientCertFile: certs.client, clientKeyFile: certs.clientKey },
    });
    try {
      const endpoint = `https://${etcd.endpoint}`;
      const store = await createStore({
        backend: 'etcd',
        endpoint,
        token: TOKEN,
        runId: 'tls',
        etcd: { credentials: { rootCertificate: readFileSync(certs.ca), certChain: readFileSync(certs.client), privateKey: readFileSync(certs.clientKey) } },
      });
      try {
        await store.set('k', 'secret');
        // A worker gets the same through etcdctl's variables.
        const worker = await connectStoreFromEnv({
          env: { EH_STORE_BACKEND: 'etcd', EH_STORE_ENDPOINT: endpoint, EH_TOKEN: TOKEN, TORCHELASTIC_RUN_ID: 'tls', ETCDCTL_CACERT: certs.ca, ETCDCTL_CERT: certs.client, ETCDCTL_KEY: certs.clientKey },
        });
        assert.equal(await worker.get('k'), 'secret');
        await worker.close();
        // Only the CA, no client certificate: the TLS handshake is refused, reported as a setup error.
        await assert.rejects(
          createStore({ backend: 'etcd', endpoint, token: TOKEN, runId: 'tls', timeoutMs: 1_500, requestTimeoutMs: 500, etcd: { credentials: { rootCertificate: readFileSync(certs.ca) } } }),
          (err: unknown) => err instanceof DistributedSetupError && err.message.includes(etcd.endpoint),
        );
      } finally {
        await store.close();
      }
    } finally {
      await etcd.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePorts } from './ports.js';

export interface EtcdHandle {
  /** `127.0.0.1:PORT`, the client endpoint (pass to EtcdStore / --rdzv-endpoint; `http://` is optional). */
  endpoint: string;
  pid: number;
  /** SIGTERM, wait for the exit (SIGKILL after 5 s), remove the data dir. Safe to call twice. */
  stop(): Promise<void>;
}

/** Serve clients over TLS (https endpoints); with `clientCertAuth`, clients must show a certificate signed by `caFile`. */
export interface EtcdTlsOptions {
  certFile: string;
  keyFile: string;
  caFile: string;
  clientCertAuth?: boolean;
  /** A client certificate and key for the readiness check when clientCertAuth is on. */
  clientCertFile?: string;
  clientKeyFile?: string;
}

export interface EtcdStartOptions {
  readyTimeoutMs?: number;
  tls?: EtcdTlsOptions;
  /** The address clients reach it at (default 127.0.0.1), e.g. a network-namespace test bed's gateway. */
  clientHost?: string;
}

export interface EtcdClusterHandle {
  /** One handle per member; stopping or killing one leaves the others running. */
  members: EtcdHandle[];
  /** Every member's client endpoint, comma-separated (what `createStore({backend: 'etcd'})` takes). */
  endpoints: string;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

interface Member {
  name: string;
  client: number;
  peer: number;
  metrics: number;
}

function spawnMember(m: Member, dataDir: string, cluster: Member[], timing: string[], tls: EtcdTlsOptions | undefined, clientHost: string): { child: ChildProcess; stderr: () => string; stop: () => Promise<void> } {
  const child = spawn(
    'etcd',
    [
      '--name', m.name,
      '--data-dir', dataDir,
      '--listen-client-urls', `${tls === undefined ? 'http' : 'https'}://${clientHost}:${m.client}`,
      '--advertise-client-urls', `${tls === undefined ? 'http' : 'https'}://${clientHost}:${m.client}`,
      ...(tls === undefined ? [] : ['--cert-file', tls.certFile, '--key-file', tls.keyFile, '--trusted-ca-file', tls.caFile, ...(tls.clientCertAuth === true ? ['--client-cert-auth'] : [])]),
      '--listen-peer-urls', `http://127.0.0.1:${m.peer}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
      '--initial-cluster', cluster.map((c) => `${c.name}=http://127.0.0.1:${c.peer}`).join(','),
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', cluster.map((c) => c.name).join('-'),
      '--listen-metrics-urls', `http://127.0.0.1:${m.metrics}`,
      ...timing,
      '--logger=zap', '--log-level=error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  live.add(child);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT'); // a test may have frozen it; a stopped process ignores SIGTERM
        child.kill('SIGTERM');
        const killTimer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(killTimer);
      }
      live.delete(child);
    })();
    return stopping;
  };
  return { child, stderr: () => stderr, stop };
}

function httpsHealth(endpoint: string, tls: EtcdTlsOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      `https://${endpoint}/health`,
      {
        ca: readFileSync(tls.caFile),
        ...(tls.clientCertFile !== undefined ? { cert: readFileSync(tls.clientCertFile) } : {}),
        ...(tls.clientKeyFile !== undefined ? { key: readFileSync(tls.clientKeyFile) } : {}),
        timeout: 1_000,
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function healthy(endpoint: string, child: ChildProcess, deadline: number, tls: EtcdTlsOptions | undefined): Promise<boolean> {
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      const text = tls === undefined ? await (await fetch(`http://${endpoint}/health`, { signal: AbortSignal.timeout(1_000) })).text() : await httpsHealth(endpoint, tls);
      if ((JSON.parse(text) as { health?: string }).health === 'true') return true;
    } catch {
      // not listening yet
    }
    await sleep(30);
  }
  return false;
}

/**
 * A real etcd cluster of `size` members on free loopback ports, each with a fresh temp data dir
 * (REAL-PARTS.md). One member uses fast election flags (ready in about 0.1 s, honours 1 s lease
 * TTLs); several use slightly slower ones so that a loaded machine does not make them lose their leader.
 */
export async function startEtcdCluster(size: number, options: EtcdStartOptions = {}): Promise<EtcdClusterHandle> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  const timing = size === 1 ? ['--heartbeat-interval=10', '--election-timeout=100'] : ['--heartbeat-interval=50', '--election-timeout=500'];
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = await mkdtemp(path.join(tmpdir(), 'eh-etcd-'));
    const ports = await freePorts(3 * size);
    const members: Member[] = Array.from({ length: size }, (_, i) => ({ name: `m${i}-${ports[0]}`, client: ports[3 * i], peer: ports[3 * i + 1], metrics: ports[3 * i + 2] }));
    const clientHost = options.clientHost ?? '127.0.0.1';
    const procs = members.map((m, i) => spawnMember(m, path.join(dir, `data${i}`), members, timing, options.tls, clientHost));
    const removeDir = (): Promise<void> => rm(dir, { recursive: true, force: true });
    const stopAll = async (): Promise<void> => {
      await Promise.all(procs.map((p) => p.stop()));
      await removeDir();
    };
    const deadline = Date.now() + readyTimeoutMs;
    const ready = await Promise.all(members.map((m, i) => healthy(`${clientHost}:${m.client}`, procs[i].child, deadline, options.tls)));
    if (ready.every((r) => r)) {
      const handles: EtcdHandle[] = members.map((m, i) => ({
        endpoint: `${clientHost}:${m.client}`,
        pid: procs[i].child.pid ?? 0,
        // A single member owns the data dir; in a cluster the dir goes when the whole cluster stops.
        stop: size === 1 ? () => stopAll() : () => procs[i].stop(),
      }));
      return { members: handles, endpoints: handles.map((h) => h.endpoint).join(','), stop: stopAll };
    }
    lastError = procs.map((p, i) => `member ${i}: ${p.child.exitCode !== null ? `exited with ${p.child.exitCode}` : 'not healthy'}: ${p.stderr()}`).join('\n');
    await stopAll();
  }
  throw new Error(`could not start etcd: ${lastError}`);
}

/** A real single-member etcd (see startEtcdCluster); `stop()` also removes its data dir. */
export async function startEtcd(options: EtcdStartOptions = {}): Promise<EtcdHandle> {
  const cluster = await startEtcdCluster(1, options);
  return cluster.members[0];
}

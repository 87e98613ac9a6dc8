import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
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

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * A real single-member etcd on free loopback ports with a fresh temp data dir (REAL-PARTS.md):
 * fast election flags, so that it is ready in about 0.1 s and honours 1 s lease TTLs.
 */
export async function startEtcd(options: { readyTimeoutMs?: number } = {}): Promise<EtcdHandle> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = await mkdtemp(path.join(tmpdir(), 'eh-etcd-'));
    const [client, peer, metrics] = await freePorts(3);
    const name = `t${client}`;
    const child = spawn(
      'etcd',
      [
        '--name', name,
        '--data-dir', path.join(dir, 'data'),
        '--listen-client-urls', `http://127.0.0.1:${client}`,
        '--advertise-client-urls', `http://127.0.0.1:${client}`,
        '--listen-peer-urls', `http://127.0.0.1:${peer}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
        '--initial-cluster', `${name}=http://127.0.0.1:${peer}`,
        '--initial-cluster-state', 'new',
        '--listen-metrics-urls', `http://127.0.0.1:${metrics}`,
        '--heartbeat-interval=10', '--election-timeout=100',
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
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    };
    const endpoint = `127.0.0.1:${client}`;
    const deadline = Date.now() + readyTimeoutMs;
    let ready = false;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        const res = await fetch(`http://${endpoint}/health`, { signal: AbortSignal.timeout(1_000) });
        const body = (await res.json()) as { health?: string };
        if (body.health === 'true') {
          ready = true;
          break;
        }
      } catch {
        // not listening yet
      }
      await sleep(30);
    }
    if (ready && child.pid !== undefined) return { endpoint, pid: child.pid, stop };
    lastError = child.exitCode !== null ? `etcd exited with ${child.exitCode}: ${stderr}` : `etcd not healthy within ${readyTimeoutMs} ms: ${stderr}`;
    await stop();
  }
  throw new Error(`could not start etcd: ${lastError}`);
}

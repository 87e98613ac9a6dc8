/**
 * One `eh run` per network-namespace host against an etcd on the test bed's bridge, for the
 * multi-host tests: builds the bed and etcd, runs a job, reads each rank's report, tears down.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startEtcd, type EtcdHandle } from '../helpers/etcd.js';
import { createTestbed, type RunResult, type Testbed } from '../helpers/netns.js';
import { EH, ROOT } from '../agent/harness.js';

export const REPORT = join(ROOT, 'test', 'fixtures', 'hosts', 'report.mjs');

/**
 * A /tmp of the host's own (an empty tmpfs, in its private mount namespace). A checkout that itself lives
 * under /tmp (a CI clone made with mktemp) is bound back in at its path, or the host could not run it.
 */
const PRIVATE_TMP = ROOT.startsWith('/tmp/')
  ? `mkdir -p /run/eh-host-tmp && mount --bind /tmp /run/eh-host-tmp && mount -t tmpfs -o mode=1777 tmpfs /tmp && mkdir -p '${ROOT}' && mount --bind '/run/eh-host-tmp${ROOT.slice('/tmp'.length)}' '${ROOT}' && exec "$@"`
  : 'mount -t tmpfs -o mode=1777 tmpfs /tmp && exec "$@"';

export interface RankReport {
  rank: number;
  world: number;
  /** The restart count the worker was started with. */
  restart: number;
  sum: number;
  usesSharedMemory: boolean;
  connections: ({ transport: 'unix' | 'tcp'; remote?: string } | null)[];
  hostId: string;
  collectiveAddr?: string;
}

export interface JobOptions {
  /** Appended to the --rdzv-conf list (start with a comma). */
  conf?: string;
  timeoutMs?: number;
  /** --nnodes (default: as many as runs). */
  nnodes?: string;
  /** --max-restarts (default 0). */
  maxRestarts?: number;
  /** The workers' script (default REPORT). */
  script?: string;
  /** The store: etcd on the bridge (default), or the TCP store hosted by host 0's agent. */
  backend?: 'etcd' | 'tcp';
  /** Run alongside the job, given its output directory (what the workers write); the job's result waits for it too. */
  during?: (outDir: string) => Promise<void>;
}

export interface HostsBed {
  bed: Testbed;
  etcd: EtcdHandle;
  /** Run one agent per entry (host index, extra args, extra env, a /tmp of its own as a separate machine has) at once, each to its end; rank i's report is reports[i]. */
  job(runs: { host: number; args?: string[]; env?: NodeJS.ProcessEnv; privateTmp?: boolean; token?: string; delayMs?: number }[], o?: JobOptions): Promise<{ results: RunResult[]; reports: (RankReport | undefined)[] }>;
  close(): Promise<void>;
}

/** The test process's variables that would decide the outcome for the agents, dropped. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['EH_HOST_ID', 'EH_COLLECTIVE_ADDR', 'EH_TOKEN', 'TMPDIR']) delete env[k];
  return env;
}

let jobs = 0;
/** Any port will do: host 0's namespace is the test's own, with nothing else listening in it. */
const TCP_STORE_PORT = 29400;

export async function hostsBed(hosts: number): Promise<HostsBed> {
  const bed = await createTestbed({ hosts });
  let etcd: EtcdHandle;
  try {
    etcd = await startEtcd({ clientHost: bed.gateway });
  } catch (err) {
    await bed.teardown();
    throw err;
  }
  return {
    bed,
    etcd,
    async job(runs, o = {}) {
      // Not under /tmp: a host may have a /tmp of its own.
      const out = mkdtempSync('/var/tmp/eh-hosts-');
      const id = `hosts-${String(process.pid)}-${String(++jobs)}`;
      try {
        const during = o.during?.(out);
        during?.catch(() => undefined); // awaited below, once the agents are done
        const results = await Promise.all(
          runs.map(async (r) => {
            if (r.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, r.delayMs));
            return bed.run(
              r.host,
              r.privateTmp === true ? 'unshare' : process.execPath,
              [
                ...(r.privateTmp === true ? ['--mount', '--propagation', 'private', 'sh', '-c', PRIVATE_TMP, 'sh', process.execPath] : []),
                EH, 'run', '--nnodes', o.nnodes ?? String(runs.length), '--nproc-per-node', '1', '--rdzv-backend', o.backend ?? 'etcd', '--rdzv-endpoint', o.backend === 'tcp' ? `${bed.hosts[0].address}:${String(TCP_STORE_PORT)}` : etcd.endpoint, '--rdzv-id', id,
                '--rdzv-conf', `token=${r.token ?? 'hosts-token'},join_timeout=30,last_call_timeout=1${o.conf ?? ''}`, '--max-restarts', String(o.maxRestarts ?? 0), '--monitor-interval', '0.2',
                ...(r.args ?? []), o.script ?? REPORT,
              ],
              { cwd: ROOT, env: { ...cleanEnv(), OUT_DIR: out, ...r.env }, timeoutMs: o.timeoutMs ?? 60_000 },
            );
          }),
        );
        await during;
        const reports = runs.map((_r, rank) => {
          const f = join(out, `rank-${String(rank)}.json`);
          return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as RankReport) : undefined;
        });
        return { results, reports };
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
    async close() {
      try {
        await etcd.stop();
      } finally {
        await bed.teardown();
      }
    },
  };
}

import { execFile, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePorts } from './ports.js';

const run = promisify(execFile);

/**
 * A one-node SLURM cluster of its own (Debian slurm-wlm + munge), as REAL-PARTS.md describes: a slurm.conf in a
 * temporary directory named by SLURM_CONF, its own munged on its own socket (so two clusters, or a system munged,
 * never meet), slurmctld and slurmd. Needs root (SlurmUser=root) and the Debian packages
 * (scripts/install-system-deps.sh installs them).
 */
export interface SlurmCluster {
  dir: string;
  /** The environment for sbatch, squeue, scontrol and for anything that calls them (SLURM_CONF set). */
  env: NodeJS.ProcessEnv;
  /** Runs a SLURM client command against this cluster. */
  cmd(command: string, args: string[]): Promise<string>;
  /** The slurmctld and slurmd logs, for failure messages. */
  logs(): string;
  /** Stops slurmd, slurmctld and munged (each by its pid file, waiting for the exit) and removes the directory. */
  stop(): Promise<void>;
}

export interface SlurmClusterOptions {
  /** Extra slurm.conf lines (e.g. RequeueExit=75). */
  extraConf?: string[];
  readyTimeoutMs?: number;
}

/** Why a cluster cannot be started here, or undefined when it can. */
export function slurmUnavailable(): string | undefined {
  for (const bin of ['/usr/sbin/slurmctld', '/usr/sbin/slurmd', '/usr/sbin/munged', '/usr/bin/sbatch']) {
    if (!existsSync(bin)) return `${bin} is missing: run scripts/install-system-deps.sh (Debian slurm-wlm and munge)`;
  }
  if (process.getuid?.() !== 0) return 'the SLURM test cluster runs its daemons as root (SlurmUser=root)';
  if (!existsSync('/etc/munge/munge.key')) return '/etc/munge/munge.key is missing (the munge package creates it)';
  return undefined;
}

function pidOf(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopByPidFile(file: string): Promise<void> {
  const pid = pidOf(file);
  if (pid === undefined || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const end = Date.now() + 15_000;
  while (alive(pid) && Date.now() < end) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  while (alive(pid)) await sleep(50);
}

function daemon(bin: string, args: string[], env: NodeJS.ProcessEnv, uid?: number, gid?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    // These daemons fork into the background themselves; the first process exits once they are up.
    const child = spawn(bin, args, { env, stdio: ['ignore', 'ignore', 'pipe'], uid, gid });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${bin} exited with ${code}: ${err}`))));
  });
}

/** Every daemon pid file of clusters started by this process, killed if the process ends without stop(). */
const started = new Set<string>();
process.on('exit', () => {
  for (const f of started) {
    const pid = pidOf(f);
    if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
  }
});

export async function startSlurmCluster(options: SlurmClusterOptions = {}): Promise<SlurmCluster> {
  const why = slurmUnavailable();
  if (why !== undefined) throw new Error(`cannot start a SLURM cluster: ${why}`);
  const dir = await mkdtemp(path.join(tmpdir(), 'eh-slurm-'));
  // munged (user munge) must reach its socket directory inside.
  chmodSync(dir, 0o755);
  const mungeDir = path.join(dir, 'munge');
  for (const d of ['state', 'spool', 'log', 'munge']) mkdirSync(path.join(dir, d), { recursive: true });
  const munge = { uid: Number((await run('id', ['-u', 'munge'])).stdout.trim()), gid: Number((await run('id', ['-g', 'munge'])).stdout.trim()) };
  chownSync(mungeDir, munge.uid, munge.gid);
  chmodSync(mungeDir, 0o755);
  const socket = path.join(mungeDir, 'munge.socket');
  const host = hostname().split('.')[0];
  const [ctldPort, slurmdPort] = await freePorts(2);
  const conf = [
    'ClusterName=ehtest',
    `SlurmctldHost=${host}(127.0.0.1)`,
    'SlurmUser=root',
    'SlurmdUser=root',
    'AuthType=auth/munge',
    'CredType=cred/munge',
    // cred_expire=5: a requeued job starts again after ~6 s instead of 121 s.
    `AuthInfo=cred_expire=5,socket=${socket}`,
    `SlurmctldPort=${ctldPort}`,
    `SlurmdPort=${slurmdPort}`,
    `StateSaveLocation=${dir}/state`,
    `SlurmdSpoolDir=${dir}/spool`,
    `SlurmctldPidFile=${dir}/slurmctld.pid`,
    `SlurmdPidFile=${dir}/slurmd.pid`,
    `SlurmctldLogFile=${dir}/log/slurmctld.log`,
    `SlurmdLogFile=${dir}/log/slurmd.log`,
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'SlurmdParameters=config_overrides',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'JobCompType=jobcomp/filetxt',
    `JobCompLoc=${dir}/log/jobcomp.txt`,
    'MpiDefault=none',
    'SchedulerType=sched/backfill',
    'SchedulerParameters=sched_interval=1,bf_interval=1',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core',
    'ReturnToService=2',
    'MinJobAge=300',
    'KillWait=5',
    ...(options.extraConf ?? []),
    `NodeName=${host} NodeAddr=127.0.0.1 CPUs=8 RealMemory=4000 State=UNKNOWN`,
    'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
  ];
  const confPath = path.join(dir, 'slurm.conf');
  writeFileSync(confPath, `${conf.join('\n')}\n`);
  const env: NodeJS.ProcessEnv = { ...process.env, SLURM_CONF: confPath };
  const pidFiles = [path.join(dir, 'slurmd.pid'), path.join(dir, 'slurmctld.pid'), path.join(mungeDir, 'munged.pid')];
  for (const f of pidFiles) started.add(f);
  const cmd = async (command: string, args: string[]): Promise<string> => (await run(command, args, { env, timeout: 30_000 })).stdout;
  const logs = (): string =>
    ['slurmctld.log', 'slurmd.log']
      .map((f) => {
        try {
          return `--- ${f}\n${readFileSync(path.join(dir, 'log', f), 'utf8').split('\n').slice(-40).join('\n')}`;
        } catch {
          return `--- ${f}: none`;
        }
      })
      .join('\n');
  const stop = async (): Promise<void> => {
    for (const f of pidFiles) await stopByPidFile(f);
    for (const f of pidFiles) started.delete(f);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await daemon(
      '/usr/sbin/munged',
      [`--socket=${socket}`, `--pid-file=${path.join(mungeDir, 'munged.pid')}`, `--log-file=${path.join(mungeDir, 'munged.log')}`, `--seed-file=${path.join(mungeDir, 'munged.seed')}`],
      env,
      munge.uid,
      munge.gid,
    );
    await daemon('/usr/sbin/slurmctld', ['-i'], env);
    await daemon('/usr/sbin/slurmd', [], env);
    const end = Date.now() + (options.readyTimeoutMs ?? 30_000);
    let state = '';
    while (Date.now() < end) {
      state = await cmd('sinfo', ['-h', '-o', '%T']).catch((e: Error) => e.message);
      if (state.trim() === 'idle') return { dir, env, cmd, logs, stop };
      await sleep(250);
    }
    throw new Error(`the SLURM node did not become idle (sinfo: ${state.trim()})\n${logs()}`);
  } catch (err) {
    await stop();
    throw err;
  }
}

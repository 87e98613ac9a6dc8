/**
 * The agent-held MEMORY tier: for the checkpoint benchmark's 384 MiB state on 2 ranks, the training pause of a
 * snapshot to the agent's memory, and the recovery time (SIGKILL to the next step completed by every rank) when
 * the state comes back from each tier: this node's agent, a peer node's agent (the node of rank 0 is killed, the
 * survivor resumes from the copy it holds), the local disk (its page cache dropped first: a cold read, as after a
 * reboot or on a busy node) and S3 (s3rver on loopback).
 *   npm run build && node --import tsx bench/agent-memory.ts      (AGENT_MEMORY_RUNS=3 for medians of 3)
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startEtcd } from '../test/helpers/etcd.js';
import { startS3 } from '../test/helpers/s3.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const EH = join(ROOT, 'dist', 'cli', 'main.js');
const WORKER = 'bench/agent-memory-worker.ts';
const SAVE_AT = 3;
/** Snapshots to agent memory taken in a row: the first pays for fresh tmpfs pages, the pause reported is the median of the others. */
const MEMORY_SAVES = 5;

type Kind = 'agent' | 'peer' | 'disk' | 's3';

interface Line {
  rank: number;
  step: number;
  at: number;
  round: number;
  from: string;
  source: string;
  loadMs: number;
  pauseMs: number;
}

function progress(path: string): Line[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const p = l.trim().split(/\s+/);
      return { rank: Number(p[0]), step: Number(p[1]), at: Number(p[2]), round: Number(p[3]), from: p[4], source: p[5], loadMs: Number(p[6]), pauseMs: Number(p[7]) };
    })
    .filter((l) => Number.isFinite(l.pauseMs));
}

async function until<T>(what: string, fn: () => T | undefined, ms: number): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** Drops the page cache of every file under `dir` (GNU dd: nocache with count=0 drops the whole file). */
function dropCache(dir: string): void {
  for (const e of readdirSync(dir, { recursive: true }) as string[]) {
    const f = join(dir, e);
    if (statSync(f).isFile()) execFileSync('dd', [`if=${f}`, 'iflag=nocache', 'count=0', 'status=none']);
  }
}

interface Result {
  recoveryMs: number;
  loadMs: number;
  pauseMs: number;
  from: string;
}

async function runOnce(kind: Kind): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), `eh-bench-agent-memory-${kind}-`));
  const prog = join(dir, 'progress');
  const tier = kind === 'disk' ? 'NVME' : kind === 's3' ? 'S3' : 'MEMORY';
  const s3 = kind === 's3' ? await startS3({ bucket: 'eh-bench' }) : undefined;
  const etcd = kind === 'peer' ? await startEtcd() : undefined;
  const saves = tier === 'MEMORY' ? MEMORY_SAVES : 1;
  const env = { ...process.env, BENCH_DIR: dir, PROGRESS: prog, TIER: tier, SAVE_AT: String(SAVE_AT), SAVES: String(saves), ...(s3 !== undefined ? { S3_ENDPOINT: s3.endpoint, S3_BUCKET: 'eh-bench' } : {}) };
  const common = ['--max-restarts', '3', '--grace-period', '2', '--monitor-interval', '0.05', '--memory-limit', '2048', '--log-dir', join(dir, 'logs')];
  const agents: ChildProcess[] = [];
  const start = (args: string[]): void => {
    const c = spawn(process.execPath, [EH, 'run', ...common, ...args, WORKER], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    c.on('exit', (code) => {
      if (code !== 0 && code !== null) process.stderr.write(`bench agent-memory (${kind}): an agent exited ${code}\n${err}\n`);
    });
    agents.push(c);
  };
  try {
    if (kind === 'peer') {
      // Three nodes of one rank: after the loss of rank 0's node, 2 ranks go on, as in the other rows.
      const rdzv = ['--nnodes', '2:3', '--nproc-per-node', '1', '--rdzv-backend', 'etcd', '--rdzv-endpoint', etcd!.endpoint, '--rdzv-id', 'bench-mem', '--rdzv-conf', 'token=bench-token,join_timeout=60,last_call_timeout=1,keep_alive_interval=0.2,keep_alive_max_attempt=2'];
      for (let i = 0; i < 3; i++) start(rdzv);
    } else {
      start(['--standalone', '--nproc-per-node', '2']);
    }
    const nranks = kind === 'peer' ? 3 : 2;
    const last = SAVE_AT + saves - 1;
    await until('the checkpoints and 5 more steps', () => (new Set(progress(prog).filter((l) => l.step >= last + 5).map((l) => l.rank)).size >= nranks ? true : undefined), 300_000);
    const pauses = progress(prog).filter((l) => l.rank === 0 && l.step >= SAVE_AT && l.step <= last && l.pauseMs > 0).map((l) => l.pauseMs);
    // The peer copy is sent after the snapshot commits: give it time to land (it is what this run measures).
    if (kind === 'peer') await new Promise((r) => setTimeout(r, 3000));
    const roundAtKill = Math.max(...progress(prog).map((l) => l.round));
    if (kind === 'disk') dropCache(join(dir, 'ckpt'));
    const killedAt = Date.now();
    if (kind === 'peer') {
      // The whole node of rank 0: its agent and its worker.
      const pid0 = Number(readFileSync(join(dir, `pid-rank0-r${readdirSync(dir).filter((f) => f.startsWith('pid-rank0-r')).map((f) => Number(f.slice(11))).sort((a, b) => b - a)[0]}`), 'utf8'));
      const agentOf0 = agents.find((a) => readFileSync(`/proc/${pid0}/stat`, 'utf8').split(' ')[3] === String(a.pid))!;
      agentOf0.kill('SIGKILL');
      process.kill(pid0, 'SIGKILL');
    } else {
      process.kill(Number(readFileSync(join(dir, 'pid-rank1-r0'), 'utf8')), 'SIGKILL');
    }
    const ranks = [0, 1];
    const firsts = await until('a step by every rank after the kill', () => {
      const after = progress(prog).filter((l) => l.round > roundAtKill && l.from !== 'none');
      const f = ranks.map((r) => after.find((l) => l.rank === r));
      return f.every((x) => x !== undefined) ? (f as Line[]) : undefined;
    }, 300_000);
    return { recoveryMs: Math.max(...firsts.map((l) => l.at)) - killedAt, loadMs: Math.max(...firsts.map((l) => l.loadMs)), pauseMs: pauses.length > 1 ? median(pauses.slice(1)) : (pauses[0] ?? 0), from: `${firsts[0].from}/${firsts[0].source}` };
  } finally {
    for (const a of agents) a.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    await s3?.stop();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function main(): Promise<Partial<Record<Kind, number>>> {
  if (!existsSync(EH)) throw new Error(`${EH} is missing: run \`npm run build\` first`);
  const runs = Number(process.env.AGENT_MEMORY_RUNS ?? '1');
  // AGENT_MEMORY_KINDS=agent,disk runs only the rows the 3x target compares.
  const all: Kind[] = ['agent', 'peer', 'disk', 's3'];
  const kinds = process.env.AGENT_MEMORY_KINDS === undefined ? all : all.filter((k) => process.env.AGENT_MEMORY_KINDS!.split(',').includes(k));
  const label: Record<Kind, string> = { agent: "this node's agent memory", peer: "peer node's agent memory", disk: 'local disk (cold cache)', s3: 'S3 (s3rver, loopback)' };
  const got: Record<Kind, Result[]> = { agent: [], peer: [], disk: [], s3: [] };
  for (let i = 0; i < runs; i++) {
    for (const k of kinds) {
      const r = await runOnce(k);
      got[k].push(r);
      process.stdout.write(`run ${i + 1}/${runs} ${k}: recovery ${r.recoveryMs} ms, load ${r.loadMs.toFixed(0)} ms, save pause ${r.pauseMs.toFixed(0)} ms (restored from ${r.from})\n`);
    }
  }
  const med = (k: Kind, f: (r: Result) => number): number => median(got[k].map(f));
  const lines = [
    '',
    `Agent-held memory tier, 384 MiB state, 2 ranks: recovery = ms from SIGKILL to the next step completed by every rank (median of ${runs})`,
    '| restored from              | recovery ms | load ms | save pause ms |',
    '|----------------------------|-------------|---------|---------------|',
    ...kinds.map((k) => `| ${label[k].padEnd(26)} | ${String(Math.round(med(k, (r) => r.recoveryMs))).padStart(11)} | ${String(Math.round(med(k, (r) => r.loadMs))).padStart(7)} | ${String(Math.round(med(k, (r) => r.pauseMs))).padStart(13)} |`),
    '',
    `The save pause of a snapshot to the agent's memory: ${Math.round(med('agent', (r) => r.pauseMs))} ms (median of snapshots 2-${MEMORY_SAVES} in a row; the checksums and the peer copy happen in the agent). Disk and S3 pauses are synchronous saves.`,
    ...(got.agent.length > 0 && got.disk.length > 0
      ? [`RATIO: recovery from agent memory is ${(med('disk', (r) => r.recoveryMs) / med('agent', (r) => r.recoveryMs)).toFixed(2)}x faster than from the local disk (target >= 3x); load ${(med('disk', (r) => r.loadMs) / med('agent', (r) => r.loadMs)).toFixed(2)}x.`]
      : []),
    'The peer row kills a whole node of 3 (one rank each): it includes the two survivors noticing the loss and re-rendezvousing.',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return Object.fromEntries(kinds.map((k) => [k, med(k, (r) => r.recoveryMs)])) as Partial<Record<Kind, number>>;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main();
}

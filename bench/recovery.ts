/**
 * Recovery benchmark: 2 workers train a small model, one is killed with SIGKILL, and we time from the
 * kill to the next training step completed by every rank. `eh run` (TensorFlow.js on wasm, gradients
 * averaged with the collective's allreduce, a checkpoint every step, standby workers with TensorFlow.js
 * preloaded) beside torchrun (PyTorch DDP on gloo, a checkpoint every step), alternating runs in the
 * same process so both see the same machine load. Median of RUNS (default 5) runs each.
 *   node --import tsx bench/recovery.ts            (needs `npm run build` first: it launches dist/cli/main.js)
 *   RECOVERY_RUNS=7 node --import tsx bench/recovery.ts
 * The PyTorch rows run the same DDP script (bench/recovery_torch.py) under `eh run` with Python standby
 * workers (torch and torch.distributed preloaded: the default for a script importing torch), under
 * `eh run --standby-workers 0`, and under torchrun, alternating in each run.
 *   RECOVERY_PYTHON_ONLY=1 node --import tsx bench/recovery.ts   (only the PyTorch rows)
 * torchrun gets --monitor_interval 0.1 (its best case) and --redirects 1 --tee 2: Debian's torch 1.13 on
 * Python 3.11 cannot parse the default "0" (IntFlag iteration skips 0), so a non-zero value is needed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const EH = join(ROOT, 'dist', 'cli', 'main.js');
const TORCHRUN = '/usr/bin/torchrun';

interface Line {
  rank: number;
  step: number;
  at: number;
  restart: number;
  /** eh workers: where the restarted worker found its checkpoint (memory: the agent's; disk). */
  from: string;
}

function readProgress(path: string): Line[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const parts = l.trim().split(/\s+/);
      const [rank, step, at, restart] = parts.slice(0, 4).map(Number);
      return { rank, step, at, restart, from: parts[4] ?? 'disk' };
    })
    .filter((l) => Number.isFinite(l.at));
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

type Kind = 'eh' | 'eh-cold' | 'eh-py' | 'eh-py-cold' | 'torchrun';

/**
 * One run (eh-cold: no standby workers, every worker starts Node and TensorFlow.js afresh; eh-py: the
 * PyTorch script under eh run, with Python standbys; eh-py-cold: without): returns milliseconds from the
 * kill to the first step every rank completed after it.
 */
async function runOnce(kind: Kind): Promise<{ recoveryMs: number; stepMs: number; from: string }> {
  const dir = mkdtempSync(join(tmpdir(), `eh-bench-recovery-${kind}-`));
  const progress = join(dir, 'progress');
  const stopFile = join(dir, 'stop');
  const env = { ...process.env, CKPT_DIR: dir, PROGRESS: progress, STOP_FILE: stopFile, OMP_NUM_THREADS: '1' };
 const ehArgs = [EH, 'run', '--standalone', '--nproc-per-node', '2', '--max-restarts', '3', '--grace-period', '5', '--log-dir', join(dir, 'logs')];
  const args =
    kind === 'eh'
      ? [...ehArgs, '--preload', './bench/recovery-preload.ts', 'bench/recovery-worker.ts']
      : kind === 'eh-cold'
        ? [...ehArgs, '--standby-workers', '0', 'bench/recovery-worker.ts']
        : kind === 'eh-py'
          ? [...ehArgs, '--standby-workers', '2', 'bench/recovery_torch.py']
          : kind === 'eh-py-cold'
            ? [...ehArgs, '--standby-workers', '0', 'bench/recovery_torch.py']
            : ['--standalone', '--nproc_per_node', '2', '--max_restarts', '3', '--monitor_interval', '0.1', '--redirects', '1', '--tee', '2', 'bench/recovery_torch.py'];
  const child = spawn(kind !== 'torchrun' ? process.execPath : TORCHRUN, args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    const first = await until('the first step', () => readProgress(progress).find((l) => l.step >= 1), 120_000).catch((err: unknown) => {
      throw new Error(`${kind}: ${err instanceof Error ? err.message : String(err)}; its stderr:\n${stderr.slice(-2000)}`);
    });
    // Give the launcher time to settle (eh: its standby workers boot a second after the start).
    await until('3 s of training', () => (Date.now() - first.at > 3000 ? true : undefined), 60_000);
    const before = readProgress(progress);
    const stepMs = (before[before.length - 1].at - first.at) / Math.max(1, before.filter((l) => l.rank === 0).length - 1);
    const pid = Number(readFileSync(join(dir, 'pid-rank1-r0'), 'utf8'));
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const recoveredAt = await until('a step by every rank after the restart', () => {
      const after = readProgress(progress).filter((l) => l.restart >= 1);
      const firsts = [0, 1].map((r) => after.find((l) => l.rank === r)?.at);
      return firsts.every((t) => t !== undefined) ? Math.max(...(firsts as number[])) : undefined;
    }, 120_000);
    writeFileSync(stopFile, '');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    if (code !== 0) throw new Error(`${kind} did not end cleanly (${String(code)}):\n${stderr.slice(-2000)}`);
    const from = readProgress(progress).find((l) => l.restart >= 1)?.from ?? '?';
    return { recoveryMs: recoveredAt - killedAt, stepMs, from };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function main(): Promise<{ eh: number; ehNoStandby: number; torchrun: number | undefined; ehPython: number | undefined; ehPythonNoStandby: number | undefined }> {
  if (!existsSync(EH)) throw new Error(`${EH} is missing: run \`npm run build\` first`);
  const runs = Number(process.env.RECOVERY_RUNS ?? '5');
  const pythonOnly = process.env.RECOVERY_PYTHON_ONLY === '1';
  const haveTorch = existsSync(TORCHRUN) && spawnSync('/usr/bin/python3', ['-c', 'import torch'], { timeout: 60_000 }).status === 0;
  if (pythonOnly && !haveTorch) throw new Error('RECOVERY_PYTHON_ONLY=1 needs /usr/bin/torchrun and /usr/bin/python3 with torch (python3-torch)');
  const kinds: Kind[] = [...(pythonOnly ? [] : (['eh', 'eh-cold'] as const)), ...(haveTorch ? (['eh-py', 'eh-py-cold', 'torchrun'] as const) : [])];
  const ms: Record<Kind, number[]> = { eh: [], 'eh-cold': [], 'eh-py': [], 'eh-py-cold': [], torchrun: [] };
  const steps: Record<Kind, number[]> = { eh: [], 'eh-cold': [], 'eh-py': [], 'eh-py-cold': [], torchrun: [] };
  const names: Record<Kind, string> = { eh: 'eh run', 'eh-cold': 'eh run without standby', 'eh-py': 'eh run (PyTorch, standby)', 'eh-py-cold': 'eh run (PyTorch) without standby', torchrun: 'torchrun' };
  for (let i = 0; i < runs; i++) {
    const parts: string[] = [];
    for (const k of kinds) {
      const r = await runOnce(k);
      ms[k].push(r.recoveryMs);
      steps[k].push(r.stepMs);
      parts.push(`${names[k]} ${r.recoveryMs} ms${k === 'eh' ? ` (restored from ${r.from})` : ''}`);
    }
    process.stdout.write(`run ${i + 1}/${runs}: ${parts.join(', ')}\n`);
  }
  const results = { eh: ms.eh, cold: ms['eh-cold'], torchrun: ms.torchrun, ehStep: steps.eh, coldStep: steps['eh-cold'], torchStep: steps.torchrun };
  const eh = pythonOnly ? NaN : median(results.eh);
  const torch = haveTorch ? median(results.torchrun) : undefined;
  const row = (name: string, xs: number[], stepMs: number[]): string =>
    `| ${name.padEnd(22)} | ${String(median(xs)).padStart(10)} | ${String(Math.min(...xs)).padStart(7)} | ${String(Math.max(...xs)).padStart(7)} | ${median(stepMs).toFixed(1).padStart(8)} |`;
  const lines = [
    '',
    `Recovery after SIGKILL of 1 of 2 workers: ms from the kill to the next step completed by every rank (${runs} runs each)`,
    '| launcher               | median ms  | min ms  | max ms  | step ms  |',
    '|------------------------|------------|---------|---------|----------|',
  ];
  if (!pythonOnly) lines.push(row('eh run (tfjs, standby)', results.eh, results.ehStep), row('eh run, no standby', results.cold, results.coldStep));
  if (torch !== undefined) {
    lines.push(row('eh run (DDP, py standby)', ms['eh-py'], steps['eh-py']), row('eh run (DDP), no standby', ms['eh-py-cold'], steps['eh-py-cold']));
    lines.push(row('torchrun (DDP gloo)', results.torchrun, results.torchStep));
    lines.push('');
    if (!pythonOnly) lines.push(`eh run (tfjs) recovers ${(torch / eh).toFixed(2)}x faster than torchrun (target: < 1000 ms and >= 2.5x)`);
    const py = median(ms['eh-py']);
    const pyCold = median(ms['eh-py-cold']);
    lines.push(`the same PyTorch script recovers ${(torch / py).toFixed(2)}x faster under eh run with Python standbys than under torchrun (target: >= 3x); without standbys ${(torch / pyCold).toFixed(2)}x (target: >= 1, no slower)`);
  } else {
    lines.push('', 'torchrun not measured: /usr/bin/torchrun with torch is not installed (scripts/install-system-deps.sh)');
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return {
    eh,
    ehNoStandby: pythonOnly ? NaN : median(results.cold),
    torchrun: torch,
    ehPython: haveTorch ? median(ms['eh-py']) : undefined,
    ehPythonNoStandby: haveTorch ? median(ms['eh-py-cold']) : undefined,
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main();
}

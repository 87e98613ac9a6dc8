/**
 * Allreduce benchmark: time and bus bandwidth (2·(n-1)/n · bytes / time) of elastic-harness's
 * process group for 1, 16 and 64 MiB of float32 on 2 and 3 ranks, against PyTorch's gloo backend
 * run in the same session with the same scheme (warm-up, then the median over iterations of the
 * slowest rank's time, each iteration after a barrier), when /usr/bin/python3 has torch.
 *
 *   node --import tsx bench/allreduce.ts [--sizes 1,16,64] [--worlds 2,3] [--iters 10] [--warmup 3] [--no-gloo]
 *                                        [--modes zerocopy,copy,sockets,js] [--b2b 5] [--no-veth] [--rounds 3]
 *                                        [--chunk-kib N] [--small-kib N]
 *
 * Paths (--modes), all in the same run:
 *   zerocopy  the buffer comes from processGroup.allocateShared: ranks read each other's buffers
 *   copy      an ordinary buffer, reduced through shared-memory segments (copied in and out)
 *   sockets   EH_COLLECTIVE_SHM=0: the ring over Unix sockets (native reductions)
 *   js        EH_NATIVE=0: no add-on at all (Unix sockets, reductions in JavaScript)
 * Also: back-to-back calls (--b2b N calls with no barrier between them, as a training loop makes
 * them; per-call time) for zerocopy and copy; the machine's memcpy bandwidth; and, as root with
 * iproute2, 2 ranks in 2 network namespaces over a veth (TCP) against gloo over the same veth.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TcpStoreServer, generateToken } from '../src/rendezvous/index.js';
import { createTestbed, netnsUnavailable, type Testbed } from '../test/helpers/netns.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..');
const SELF = fileURLToPath(import.meta.url);

type Mode = 'zerocopy' | 'copy' | 'sockets' | 'js' | 'veth';
const MODES: readonly Mode[] = ['zerocopy', 'copy', 'sockets', 'js'];

interface SizeResult {
  mib: number;
  median_s: number;
  times: number[];
  /** Whether the group reduced through shared memory (absent for gloo). */
  shm?: boolean;
  /** Whether the buffer was in shared memory (the zero-copy path). */
  zeroCopy?: boolean;
  /** Median per-call time of back-to-back calls. */
  b2b_s?: number;
}

interface Args {
  sizes: number[];
  worlds: number[];
  iters: number;
  warmup: number;
  gloo: boolean;
  modes: Mode[];
  b2b: number;
  veth: boolean;
  chunkKiB: number;
  smallKiB: number;
  rounds: number;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string, def: string): string => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : def;
  };
  const modes = get('modes', MODES.join(',')).split(',') as Mode[];
  const bad = modes.filter((m) => !MODES.includes(m));
  if (bad.length > 0) throw new Error(`unknown --modes ${bad.join(', ')}; known: ${MODES.join(', ')}`);
  return {
    sizes: get('sizes', '1,16,64').split(',').map(Number),
    worlds: get('worlds', '2,3').split(',').map(Number).filter((w) => Number.isInteger(w) && w > 1),
    iters: Number(get('iters', '10')),
    warmup: Number(get('warmup', '3')),
    gloo: !argv.includes('--no-gloo'),
    modes,
    b2b: Math.max(0, Number(get('b2b', '5'))),
    veth: !argv.includes('--no-veth'),
    chunkKiB: Number(get('chunk-kib', '0')),
    smallKiB: Number(get('small-kib', '-1')),
    rounds: Math.max(1, Number(get('rounds', '3'))),
  };
}

// ---- worker side ----
async function worker(): Promise<void> {
  const { setupDistributedEnvironment, allReduce, barrier, cleanupDistributed, getRank, getProcessGroup } = await import('../src/collective/index.js');
  const a = JSON.parse(process.env.EH_BENCH_ARGS ?? '{}') as Args;
  const mode = (process.env.EH_BENCH_MODE ?? 'copy') as Mode;
  await setupDistributedEnvironment({ backend: 'auto', timeoutMs: 120_000, ...(a.chunkKiB > 0 ? { chunkBytes: a.chunkKiB << 10 } : {}), ...(a.smallKiB >= 0 ? { smallBytes: a.smallKiB << 10 } : {}) });
  const g = getProcessGroup();
  const slowest = async (dt: number): Promise<number> => (await allReduce(new Float64Array([dt]), 'max'))[0];
  const results: SizeResult[] = [];
  for (const mib of a.sizes) {
    const n = (mib << 20) / 4;
    const buf = mode === 'zerocopy' ? await g.allocateShared(n, 'float32') : new Float32Array(n);
    buf.fill(1);
    const times: number[] = [];
    for (let it = 0; it < a.warmup + a.iters; it++) {
      await barrier();
      const t0 = process.hrtime.bigint();
      await allReduce(buf, 'sum');
      const dt = await slowest(Number(process.hrtime.bigint() - t0) / 1e9);
      if (it >= a.warmup) times.push(dt);
    }
    const r: SizeResult = { mib, median_s: median(times), times, shm: g.usesSharedMemory, zeroCopy: g.isShared(buf) };
    if (a.b2b > 0 && (mode === 'zerocopy' || mode === 'copy')) {
      const perCall: number[] = [];
      for (let rep = 0; rep < Math.max(3, a.iters >> 1); rep++) {
        await barrier();
        const t0 = process.hrtime.bigint();
        for (let k = 0; k < a.b2b; k++) await allReduce(buf, 'sum');
        perCall.push(await slowest(Number(process.hrtime.bigint() - t0) / 1e9 / a.b2b));
      }
      r.b2b_s = median(perCall);
    }
    results.push(r);
  }
  if (getRank() === 0) process.stdout.write(`@@${JSON.stringify(results)}\n`);
  await barrier();
  await cleanupDistributed();
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// ---- driver side ----
/** Wait for every process, collect rank 0's "@@" line (or the last line, for gloo). */
async function collect(procs: ChildProcess[], marker: string | undefined, what: string): Promise<string> {
  let out = '';
  const exits = procs.map(
    (p, i) =>
      new Promise<number | null>((resolve) => {
        if (i === 0) {
          p.stdout?.setEncoding('utf8');
          p.stdout?.on('data', (d: string) => {
            out += d;
          });
        } else p.stdout?.resume();
        p.on('exit', (code) => resolve(code));
      }),
  );
  const codes = await Promise.all(exits);
  if (codes.some((c) => c !== 0)) throw new Error(`${what}: a process failed (exit codes ${codes.join(', ')})`);
  const lines = out.trim().split('\n');
  const line = marker === undefined ? lines[lines.length - 1] : lines.find((l) => l.startsWith(marker))?.slice(marker.length);
  if (line === undefined || line === '') throw new Error(`${what}: no result from rank 0`);
  return line;
}

async function runOurs(world: number, a: Args, mode: Mode, bed?: Testbed): Promise<SizeResult[]> {
  const token = generateToken();
  const server = await TcpStoreServer.start({ token, logger: () => undefined, ...(bed !== undefined ? { host: bed.gateway } : {}) });
  const procs: ChildProcess[] = [];
  try {
    for (let rank = 0; rank < world; rank++) {
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        RANK: String(rank),
        LOCAL_RANK: bed !== undefined ? '0' : String(rank),
        WORLD_SIZE: String(world),
        LOCAL_WORLD_SIZE: bed !== undefined ? '1' : String(world),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: '29500',
        EH_STORE_BACKEND: 'tcp',
        EH_STORE_ENDPOINT: server.endpoint,
        EH_TOKEN: token,
        EH_STORE_PREFIX: `bench-${String(world)}-${mode}/`,
        EH_COLLECTIVE_ADDR: bed !== undefined ? bed.hosts[rank].address : '127.0.0.1',
        EH_BENCH_ARGS: JSON.stringify(a),
        EH_BENCH_MODE: mode,
        ...(mode === 'sockets' ? { EH_COLLECTIVE_SHM: '0' } : {}),
        ...(mode === 'js' ? { EH_NATIVE: '0' } : {}),
        // One machine per namespace: the host names are the same, so the host ids must differ.
        ...(bed !== undefined ? { EH_HOST_ID: `bench-host-${String(rank)}` } : {}),
      };
      const nodeArgs = (process.env.EH_BENCH_NODE_ARGS ?? '').split(' ').filter((s) => s !== '');
      const argv = [...nodeArgs, '--import', 'tsx', SELF, '--worker'];
      const opts = { env, cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] as ('ignore' | 'pipe' | 'inherit')[] };
      procs.push(bed !== undefined ? bed.spawn(rank, process.execPath, argv, { ...opts, privateShm: true }) : spawn(process.execPath, argv, opts));
    }
    return JSON.parse(await collect(procs, '@@', `elastic-harness ${mode} on ${String(world)} ranks`)) as SizeResult[];
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    await server.close();
  }
}

function torchAvailable(): boolean {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
  return r.status === 0;
}

function glooArgs(world: number, a: Args): string[] {
  return [path.join(HERE, 'gloo_allreduce.py'), '--world', String(world), '--sizes-mib', a.sizes.join(','), '--iters', String(a.iters), '--warmup', String(a.warmup)];
}

async function runGloo(world: number, a: Args, bed?: Testbed): Promise<SizeResult[]> {
  const env = { ...process.env, OMP_NUM_THREADS: '1' };
  const procs: ChildProcess[] = [];
  try {
    if (bed === undefined) procs.push(spawn('/usr/bin/python3', glooArgs(world, a), { stdio: ['ignore', 'pipe', 'inherit'], env }));
    else {
      for (let rank = 0; rank < world; rank++) {
        const args = [...glooArgs(world, a), '--rank', String(rank), '--master-addr', bed.hosts[0].address, '--master-port', '29500'];
        procs.push(bed.spawn(rank, '/usr/bin/python3', args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...env, GLOO_SOCKET_IFNAME: 'eth0' }, privateShm: true }));
      }
    }
    return (JSON.parse(await collect(procs, undefined, `gloo on ${String(world)} ranks`)) as { results: SizeResult[] }).results;
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  }
}

/** Bytes per second of a 64 MiB memcpy (Buffer.copy), median of 10 after a warm-up. */
function memcpyBandwidth(): number {
  const bytes = 64 << 20;
  const src = Buffer.alloc(bytes, 1);
  const dst = Buffer.alloc(bytes);
  const times: number[] = [];
  for (let i = 0; i < 13; i++) {
    const t0 = process.hrtime.bigint();
    src.copy(dst);
    if (i >= 3) times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return bytes / median(times);
}

function medianRounds(rounds: SizeResult[][]): SizeResult[] {
  return rounds[0].map((first) => {
    const all = rounds.map((r) => r.find((x) => x.mib === first.mib) as SizeResult);
    const b2b = all.map((x) => x.b2b_s).filter((x): x is number => x !== undefined);
    return { mib: first.mib, median_s: median(all.map((x) => x.median_s)), times: all.flatMap((x) => x.times), shm: first.shm, zeroCopy: first.zeroCopy, ...(b2b.length > 0 ? { b2b_s: median(b2b) } : {}) };
  });
}

const busBw = (world: number, mib: number, s: number): number => ((2 * (world - 1)) / world) * ((mib << 20) / s) / 1e9;

export interface PathFigure {
  ms: number;
  busGBs: number;
  /** Back-to-back calls: per-call time and bus bandwidth. */
  b2bMs?: number;
  b2bBusGBs?: number;
}

export interface AllreduceBenchRow {
  world: number;
  mib: number;
  /** 'veth': one rank per network namespace, TCP over a veth pair. */
  link: 'host' | 'veth';
  /** Shared memory actually used by the ranks of the copy path (false when the addon is missing). */
  sharedMemory: boolean;
  paths: Partial<Record<Mode, PathFigure>>;
  glooMs?: number;
  glooBusGBs?: number;
}

export interface AllreduceBenchReport {
  rows: AllreduceBenchRow[];
  memcpyGBs: number;
}

function figure(world: number, r: SizeResult): PathFigure {
  const f: PathFigure = { ms: r.median_s * 1e3, busGBs: busBw(world, r.mib, r.median_s) };
  if (r.b2b_s !== undefined) {
    f.b2bMs = r.b2b_s * 1e3;
    f.b2bBusGBs = busBw(world, r.mib, r.b2b_s);
  }
  return f;
}

/** Run every path (and gloo) `a.rounds` times, alternating, and keep each size's median round: a burst of load during one path's only run would decide the ratio. */
async function measure(world: number, a: Args, modes: Mode[], gloo: boolean, bed?: Testbed): Promise<AllreduceBenchRow[]> {
  const rounds = new Map<Mode | 'gloo', SizeResult[][]>();
  for (let round = 0; round < a.rounds; round++) {
    for (const mode of modes) rounds.set(mode, [...(rounds.get(mode) ?? []), await runOurs(world, a, mode, bed)]);
    if (gloo) rounds.set('gloo', [...(rounds.get('gloo') ?? []), await runGloo(world, a, bed)]);
  }
  const med = new Map([...rounds].map(([k, v]) => [k, medianRounds(v)]));
  return a.sizes.map((mib) => {
    const row: AllreduceBenchRow = { world, mib, link: bed !== undefined ? 'veth' : 'host', sharedMemory: rounds.get('copy')?.[0].every((x) => x.shm) ?? false, paths: {} };
    for (const mode of modes) {
      const r = med.get(mode)?.find((x) => x.mib === mib);
      if (r !== undefined) row.paths[mode] = figure(world, r);
    }
    const g = med.get('gloo')?.find((x) => x.mib === mib);
    if (g !== undefined) {
      row.glooMs = g.median_s * 1e3;
      row.glooBusGBs = busBw(world, mib, g.median_s);
    }
    return row;
  });
}

const cell = (f: PathFigure | undefined, b2b = false): string => {
  const ms = b2b ? f?.b2bMs : f?.ms;
  const bw = b2b ? f?.b2bBusGBs : f?.busGBs;
  return ms === undefined || bw === undefined ? '-' : `${bw.toFixed(2)} (${ms.toFixed(1)} ms)`;
};
const ratio = (x: number | undefined, gloo: number | undefined): string => (x === undefined || gloo === undefined ? '-' : `${(x / gloo).toFixed(2)}x`);

function printTables(report: AllreduceBenchReport, a: Args): void {
  const host = report.rows.filter((r) => r.link === 'host');
  const veth = report.rows.filter((r) => r.link === 'veth');
  console.log(`\nallreduce float32, sum: median of ${String(a.iters)} iterations after ${String(a.warmup)} warm-up, each after a barrier (slowest rank per iteration); median of ${String(a.rounds)} alternating rounds`);
  console.log('bus bandwidth GB/s = 2(n-1)/n * bytes / time (time in brackets)');
  console.log(`memcpy of 64 MiB on this machine, same run: ${(report.memcpyGBs / 1e9).toFixed(2)} GB/s`);
  console.log('\nranks | size   | zero-copy         | copy (shm)        | sockets           | JS fallback       | gloo              | zero-copy/gloo | copy/gloo');
  console.log('------|--------|-------------------|-------------------|-------------------|-------------------|-------------------|----------------|----------');
  for (const r of host) {
    const gloo = r.glooMs === undefined ? '-' : `${(r.glooBusGBs as number).toFixed(2)} (${r.glooMs.toFixed(1)} ms)`;
    console.log(
      `${String(r.world).padEnd(5)} | ${`${String(r.mib)} MiB`.padEnd(6)} | ${cell(r.paths.zerocopy).padEnd(17)} | ${cell(r.paths.copy).padEnd(17)} | ${cell(r.paths.sockets).padEnd(17)} | ${cell(r.paths.js).padEnd(17)} | ${gloo.padEnd(17)} | ${ratio(r.paths.zerocopy?.busGBs, r.glooBusGBs).padEnd(14)} | ${ratio(r.paths.copy?.busGBs, r.glooBusGBs)}`,
    );
  }
  if (host.some((r) => r.paths.zerocopy?.b2bMs !== undefined || r.paths.copy?.b2bMs !== undefined)) {
    console.log(`\nback to back: ${String(a.b2b)} calls without a barrier between them (as a training loop makes them), per call`);
    console.log('ranks | size   | zero-copy         | copy (shm)        | zero-copy/gloo | copy/gloo');
    console.log('------|--------|-------------------|-------------------|----------------|----------');
    for (const r of host) {
      console.log(
        `${String(r.world).padEnd(5)} | ${`${String(r.mib)} MiB`.padEnd(6)} | ${cell(r.paths.zerocopy, true).padEnd(17)} | ${cell(r.paths.copy, true).padEnd(17)} | ${ratio(r.paths.zerocopy?.b2bBusGBs, r.glooBusGBs).padEnd(14)} | ${ratio(r.paths.copy?.b2bBusGBs, r.glooBusGBs)}`,
      );
    }
  }
  if (veth.length > 0) {
    console.log('\nacross hosts: one rank per network namespace, TCP over a veth pair (through a bridge), both engines on the same link');
    console.log('ranks | size   | elastic-harness   | gloo              | ratio');
    console.log('------|--------|-------------------|-------------------|------');
    for (const r of veth) {
      const gloo = r.glooMs === undefined ? '-' : `${(r.glooBusGBs as number).toFixed(2)} (${r.glooMs.toFixed(1)} ms)`;
      console.log(`${String(r.world).padEnd(5)} | ${`${String(r.mib)} MiB`.padEnd(6)} | ${cell(r.paths.veth).padEnd(17)} | ${gloo.padEnd(17)} | ${ratio(r.paths.veth?.busGBs, r.glooBusGBs)}`);
    }
  }
  if (host.some((r) => !r.sharedMemory) && a.modes.includes('copy')) console.log('(shared memory was not used: the addon is not built; run npm run build:native)');
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<AllreduceBenchReport> {
  const a = parseArgs(argv);
  const gloo = a.gloo && torchAvailable();
  if (a.gloo && !gloo) console.log('(PyTorch not importable by /usr/bin/python3: gloo comparison skipped)');
  const report: AllreduceBenchReport = { rows: [], memcpyGBs: memcpyBandwidth() };
  for (const world of a.worlds) report.rows.push(...(await measure(world, a, a.modes, gloo)));
  const why = a.veth ? netnsUnavailable() : 'turned off (--no-veth)';
  if (why === undefined) {
    const bed = await createTestbed({ hosts: 2 });
    try {
      report.rows.push(...(await measure(2, a, ['veth'], gloo, bed)));
    } finally {
      await bed.teardown();
    }
  } else console.log(`(cross-namespace TCP row skipped: ${why})`);
  printTables(report, a);
  return report;
}

export default main;

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === SELF) {
  if (process.argv.includes('--worker')) {
    worker().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  } else {
    main().catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
  }
}

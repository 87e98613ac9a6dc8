/**
 * Allreduce benchmark: time and bus bandwidth (2·(n-1)/n · bytes / time) of elastic-harness's
 * process group for 1, 16 and 64 MiB of float32 on 2 and 3 ranks, against PyTorch's gloo backend
 * run in the same session with the same scheme (warm-up, then the median over iterations of the
 * slowest rank's time, each iteration after a barrier), when /usr/bin/python3 has torch.
 *
 *   node --import tsx bench/allreduce.ts [--sizes 1,16,64] [--worlds 2,3] [--iters 10] [--warmup 3] [--no-gloo]
 *                                        [--transport auto|tcp|unix] [--chunk-kib N] [--small-kib N] [--rounds 3] [--no-sockets]
 *
 * Ranks on one host reduce through shared memory when the addon is built; each round also runs the
 * same sizes with EH_COLLECTIVE_SHM=0 (Unix sockets only), printed beside it, unless --no-sockets.
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TcpStoreServer, generateToken } from '../src/rendezvous/index.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..');
const SELF = fileURLToPath(import.meta.url);

interface SizeResult {
  mib: number;
  median_s: number;
  times: number[];
  /** Whether the group reduced through shared memory (absent for gloo). */
  shm?: boolean;
}

interface Args {
  sizes: number[];
  worlds: number[];
  iters: number;
  warmup: number;
  gloo: boolean;
  transport: string;
  chunkKiB: number;
  smallKiB: number;
  rounds: number;
  sockets: boolean;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string, def: string): string => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : def;
  };
  return {
    sizes: get('sizes', '1,16,64').split(',').map(Number),
    worlds: get('worlds', '2,3').split(',').map(Number),
    iters: Number(get('iters', '10')),
    warmup: Number(get('warmup', '3')),
    gloo: !argv.includes('--no-gloo'),
    transport: get('transport', 'auto'),
    chunkKiB: Number(get('chunk-kib', '0')),
    smallKiB: Number(get('small-kib', '-1')),
    rounds: Math.max(1, Number(get('rounds', '3'))),
    sockets: !argv.includes('--no-sockets'),
  };
}

// ---- worker side ----
async function worker(): Promise<void> {
  const { setupDistributedEnvironment, allReduce, barrier, cleanupDistributed, getRank, getProcessGroup } = await import('../src/collective/index.js');
  const a = JSON.parse(process.env.EH_BENCH_ARGS ?? '{}') as Args;
  await setupDistributedEnvironment({ backend: 'auto', timeoutMs: 120_000, ...(a.chunkKiB > 0 ? { chunkBytes: a.chunkKiB << 10 } : {}), ...(a.smallKiB >= 0 ? { smallBytes: a.smallKiB << 10 } : {}) });
  const results: SizeResult[] = [];
  for (const mib of a.sizes) {
    const buf = new Float32Array((mib << 20) / 4).fill(1);
    const times: number[] = [];
    for (let it = 0; it < a.warmup + a.iters; it++) {
      await barrier();
      const t0 = process.hrtime.bigint();
      await allReduce(buf, 'sum');
      const dt = Number(process.hrtime.bigint() - t0) / 1e9;
      const slowest = await allReduce(new Float64Array([dt]), 'max');
      if (it >= a.warmup) times.push(slowest[0]);
    }
    times.sort((x, y) => x - y);
    results.push({ mib, median_s: median(times), times, shm: getProcessGroup().usesSharedMemory });
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
async function runOurs(world: number, a: Args, sharedMemory = true): Promise<SizeResult[]> {
  const token = generateToken();
  const server = await TcpStoreServer.start({ token, logger: () => undefined });
  const procs = [];
  try {
    let out = '';
    const exits: Promise<number | null>[] = [];
    for (let rank = 0; rank < world; rank++) {
      const env = {
        ...process.env,
        RANK: String(rank),
        LOCAL_RANK: String(rank),
        WORLD_SIZE: String(world),
        LOCAL_WORLD_SIZE: String(world),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: '29500',
        EH_STORE_BACKEND: 'tcp',
        EH_STORE_ENDPOINT: server.endpoint,
        EH_TOKEN: token,
        EH_STORE_PREFIX: `bench-${String(world)}/`,
        EH_COLLECTIVE_TRANSPORT: a.transport,
        EH_COLLECTIVE_ADDR: '127.0.0.1',
        EH_BENCH_ARGS: JSON.stringify(a),
        ...(sharedMemory ? {} : { EH_COLLECTIVE_SHM: '0' }),
      };
      const nodeArgs = (process.env.EH_BENCH_NODE_ARGS ?? '').split(' ').filter((s) => s !== '');
      const p = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', SELF, '--worker'], { env, cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
      procs.push(p);
      p.stdout.setEncoding('utf8');
      p.stdout.on('data', (d: string) => {
        out += d;
      });
      exits.push(new Promise((resolve) => p.on('exit', (code) => resolve(code))));
    }
    const codes = await Promise.all(exits);
    if (codes.some((c) => c !== 0)) throw new Error(`a benchmark worker failed (exit codes ${codes.join(', ')})`);
    const line = out.split('\n').find((l) => l.startsWith('@@'));
    if (line === undefined) throw new Error('no result from rank 0');
    return JSON.parse(line.slice(2)) as SizeResult[];
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    await server.close();
  }
}

function torchAvailable(): boolean {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
  return r.status === 0;
}

async function runGloo(world: number, a: Args): Promise<SizeResult[]> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/python3', [path.join(HERE, 'gloo_allreduce.py'), '--world', String(world), '--sizes-mib', a.sizes.join(','), '--iters', String(a.iters), '--warmup', String(a.warmup)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, OMP_NUM_THREADS: '1' },
    });
    let out = '';
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => {
      out += d;
    });
    p.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`gloo benchmark exited with ${String(code)}`));
      const line = out.trim().split('\n').pop() ?? '';
      resolve((JSON.parse(line) as { results: SizeResult[] }).results);
    });
  });
}

function medianRounds(rounds: SizeResult[][]): SizeResult[] {
  return rounds[0].map((first) => {
    const all = rounds.map((r) => r.find((x) => x.mib === first.mib) as SizeResult);
    return { mib: first.mib, median_s: median(all.map((x) => x.median_s)), times: all.flatMap((x) => x.times) };
  });
}

const busBw = (world: number, mib: number, s: number): number => ((2 * (world - 1)) / world) * ((mib << 20) / s) / 1e9;

export interface AllreduceBenchRow {
  world: number;
  mib: number;
  oursMs: number;
  oursBusGBs: number;
  /** Shared memory actually used by the ranks (false when the addon is missing). */
  sharedMemory: boolean;
  socketsMs?: number;
  socketsBusGBs?: number;
  glooMs?: number;
  glooBusGBs?: number;
  ratio?: number;
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<AllreduceBenchRow[]> {
  const a = parseArgs(argv);
  const gloo = a.gloo && torchAvailable();
  if (a.gloo && !gloo) console.log('(PyTorch not importable by /usr/bin/python3: gloo comparison skipped)');
  const rows: AllreduceBenchRow[] = [];
  for (const world of a.worlds) {
    // Alternate the two engines over several rounds and keep each size's median round: the
    // machine is shared, and a burst of load during one engine's only run would decide the ratio.
    const oursRounds: SizeResult[][] = [];
    const socketRounds: SizeResult[][] = [];
    const glooRounds: SizeResult[][] = [];
    for (let round = 0; round < a.rounds; round++) {
      oursRounds.push(await runOurs(world, a));
      if (a.sockets) socketRounds.push(await runOurs(world, a, false));
      if (gloo) glooRounds.push(await runGloo(world, a));
    }
    const ours = medianRounds(oursRounds);
    const sockets = a.sockets ? medianRounds(socketRounds) : undefined;
    const theirs = gloo ? medianRounds(glooRounds) : undefined;
    for (const r of ours) {
      const g = theirs?.find((x) => x.mib === r.mib);
      const so = sockets?.find((x) => x.mib === r.mib);
      const row: AllreduceBenchRow = { world, mib: r.mib, oursMs: r.median_s * 1e3, oursBusGBs: busBw(world, r.mib, r.median_s), sharedMemory: oursRounds[0].every((x) => x.shm) };
      if (so !== undefined) {
        row.socketsMs = so.median_s * 1e3;
        row.socketsBusGBs = busBw(world, so.mib, so.median_s);
      }
      if (g !== undefined) {
        row.glooMs = g.median_s * 1e3;
        row.glooBusGBs = busBw(world, g.mib, g.median_s);
        row.ratio = row.oursBusGBs / row.glooBusGBs;
      }
      rows.push(row);
    }
  }
  console.log(
    `\nallreduce float32, sum: per round, median of ${String(a.iters)} iterations after ${String(a.warmup)} warm-up (slowest rank per iteration); median of ${String(a.rounds)} alternating rounds; bus bandwidth = 2(n-1)/n * bytes / time`,
  );
  console.log('ranks | size    | path   | elastic-harness ms | busbw GB/s | sockets-only ms | sockets busbw GB/s | gloo ms  | gloo busbw GB/s | ratio vs gloo');
  console.log('------|---------|--------|--------------------|------------|-----------------|--------------------|----------|-----------------|--------------');
  for (const r of rows) {
    console.log(
      `${String(r.world).padEnd(5)} | ${`${String(r.mib)} MiB`.padEnd(7)} | ${(r.sharedMemory ? 'shm' : 'socket').padEnd(6)} | ${r.oursMs.toFixed(2).padStart(18)} | ${r.oursBusGBs.toFixed(2).padStart(10)} | ${(r.socketsMs?.toFixed(2) ?? '-').padStart(15)} | ${(r.socketsBusGBs?.toFixed(2) ?? '-').padStart(18)} | ${(r.glooMs?.toFixed(2) ?? '-').padStart(8)} | ${(r.glooBusGBs?.toFixed(2) ?? '-').padStart(15)} | ${r.ratio !== undefined ? `${r.ratio.toFixed(2)}x` : '-'}`,
    );
  }
  if (rows.some((r) => !r.sharedMemory)) console.log('(shared memory was not used: the addon is not built; run npm run build:native)');
  return rows;
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

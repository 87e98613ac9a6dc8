/**
 * Several hosts on one machine, for tests: N network namespaces, each with one veth pair whose
 * other end is on a bridge in the root namespace, all in one test subnet 10.213.X.0/24 (the bridge
 * is 10.213.X.1, host i is 10.213.X.(i+2)), so hosts reach each other and a server of the test
 * process only through the veths. Needs root and iproute2 (see REAL-PARTS.md "Several hosts on one
 * machine"). X is claimed by creating the bridge `ehbrX` (the kernel refuses a second one), so
 * test beds of concurrent test files never share a subnet; a bridge left by a killed test run is
 * swept when its owner pid (the bridge's alias) is gone. Every loop is bounded and teardown()
 * removes everything, also after a failure: call it in a `finally`.
 *
 *   const bed = await createTestbed({ hosts: 2 });
 *   try {
 *     const p = bed.spawn(0, process.execPath, ['server.js'], { privateShm: true });
 *     await bed.run(1, process.execPath, ['-e', '...']);
 *   } finally {
 *     await bed.teardown();
 *   }
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';

const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p)) ?? 'ip';
/** Subnets 10.213.0.0/24 .. 10.213.(MAX_BEDS-1).0/24; nothing else is ever addressed. */
const MAX_BEDS = 32;
const ALIAS = 'eh-testbed pid=';

export interface NetnsHost {
  index: number;
  /** The namespace's name (for `ip netns exec`). */
  ns: string;
  /** This host's address on the test subnet. */
  address: string;
  /** The veth end in the root namespace (on the bridge); down = this host is cut off. */
  rootLink: string;
}

export interface TestbedSpawnOptions extends SpawnOptions {
  /** Give the process a /dev/shm of its own (a fresh tmpfs), as a separate machine would have. */
  privateShm?: boolean;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Testbed {
  /** The third octet X of 10.213.X.0/24. */
  readonly id: number;
  readonly subnet: string;
  /** The bridge's address in the root namespace: where a server of the test process is reached from every host. */
  readonly gateway: string;
  readonly hosts: readonly NetnsHost[];
  /** Start `command` in host `i`'s namespace (the returned process is the command itself: `ip netns exec` execs it). */
  spawn(i: number, command: string, args: readonly string[], options?: TestbedSpawnOptions): ChildProcess;
  /** Run `command` in host `i`'s namespace to the end (killed after `timeoutMs`, default 30 s). */
  run(i: number, command: string, args: readonly string[], options?: TestbedSpawnOptions & { timeoutMs?: number }): Promise<RunResult>;
  /** Take host `i`'s link down (a partition) or up again. */
  setLink(i: number, up: boolean): void;
  /** Kill every process spawned here, delete the namespaces, veths and the bridge. Idempotent. */
  teardown(): Promise<void>;
}

/** Why network namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'network namespaces need root';
  const r = spawnSync(IP, ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error !== undefined || r.status !== 0) return `iproute2 is not usable (${r.error?.message ?? r.stderr.trim()})`;
  return undefined;
}

function ip(args: readonly string[], allowFail = false): string {
  const r = spawnSync(IP, args, { encoding: 'utf8', timeout: 10_000 });
  if (!allowFail && (r.error !== undefined || r.status !== 0)) throw new Error(`ip ${args.join(' ')} failed: ${r.error?.message ?? r.stderr.trim()}`);
  return r.stdout ?? '';
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const nsName = (id: number, i: number): string => `ehtb${String(id)}h${String(i)}`;
const rootLinkName = (id: number, i: number): string => `ehtb${String(id)}v${String(i)}`;
const bridgeName = (id: number): string => `ehbr${String(id)}`;

/** Delete what test bed `id` may have left (namespaces first: that removes their veths too). */
function removeBed(id: number): void {
  const prefix = `ehtb${String(id)}h`;
  for (const line of ip(['netns', 'list'], true).split('\n')) {
    const name = line.split(' ')[0];
    if (name.startsWith(prefix)) ip(['netns', 'del', name], true);
  }
  for (const link of JSON.parse(ip(['-j', 'link', 'show'], true) || '[]') as { ifname: string }[]) {
    if (link.ifname.startsWith(`ehtb${String(id)}v`)) ip(['link', 'del', link.ifname], true);
  }
  ip(['link', 'del', bridgeName(id)], true);
}

/** Remove test beds whose owner process is gone (a test run killed before its teardown). */
export function sweepStaleTestbeds(): number {
  let swept = 0;
  for (const link of JSON.parse(ip(['-j', '-d', 'link', 'show', 'type', 'bridge'], true) || '[]') as { ifname: string; ifalias?: string }[]) {
    const m = /^ehbr(\d+)$/.exec(link.ifname);
    if (m === null) continue;
    const owner = link.ifalias?.startsWith(ALIAS) ? Number(link.ifalias.slice(ALIAS.length)) : NaN;
    if (Number.isInteger(owner) && pidAlive(owner)) continue;
    removeBed(Number(m[1]));
    swept++;
  }
  return swept;
}

/** Claim a subnet (by creating its bridge) and build `hosts` namespaces on it. */
export async function createTestbed(options: { hosts: number }): Promise<Testbed> {
  const n = options.hosts;
  if (!Number.isInteger(n) || n < 1 || n > 200) throw new Error(`a test bed has 1..200 hosts, not ${String(n)}`);
  const why = netnsUnavailable();
  if (why !== undefined) throw new Error(why);
  sweepStaleTestbeds();
  let id = -1;
  for (let x = 0; x < MAX_BEDS && id < 0; x++) {
    const r = spawnSync(IP, ['link', 'add', bridgeName(x), 'type', 'bridge'], { encoding: 'utf8', timeout: 10_000 });
    if (r.status === 0) id = x;
  }
  if (id < 0) throw new Error(`no free test subnet among 10.213.0-${String(MAX_BEDS - 1)}.0/24 (bridges ehbr0..ehbr${String(MAX_BEDS - 1)} all exist)`);
  const children = new Set<ChildProcess>();
  const hosts: NetnsHost[] = [];
  const base = `10.213.${String(id)}`;
  let down = false;
  const teardown = async (): Promise<void> => {
    if (down) return;
    down = true;
    const exits: Promise<void>[] = [];
    for (const c of children) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      exits.push(new Promise<void>((resolve) => c.once('exit', () => resolve())));
      c.kill('SIGKILL');
    }
    // Bounded: a process in uninterruptible sleep must not hold the teardown forever.
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 5000))]);
    removeBed(id);
  };
  try {
    const bridge = bridgeName(id);
    ip(['link', 'set', 'dev', bridge, 'alias', `${ALIAS}${String(process.pid)}`]);
    ip(['addr', 'add', `${base}.1/24`, 'dev', bridge]);
    ip(['link', 'set', bridge, 'up']);
    for (let i = 0; i < n; i++) {
      const ns = nsName(id, i);
      const rootLink = rootLinkName(id, i);
      const peer = `ehtb${String(id)}p${String(i)}`;
      ip(['netns', 'add', ns]);
      ip(['link', 'add', rootLink, 'type', 'veth', 'peer', 'name', peer]);
      ip(['link', 'set', peer, 'netns', ns]);
      ip(['-n', ns, 'link', 'set', peer, 'name', 'eth0']);
      ip(['link', 'set', rootLink, 'master', bridge]);
      ip(['link', 'set', rootLink, 'up']);
      const address = `${base}.${String(i + 2)}`;
      ip(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      hosts.push({ index: i, ns, address, rootLink });
    }
  } catch (err) {
    await teardown();
    throw err;
  }
  const spawnIn = (i: number, command: string, args: readonly string[], o: TestbedSpawnOptions = {}): ChildProcess => {
    const h = hosts[i];
    if (h === undefined) throw new Error(`no host ${String(i)} in this test bed`);
    if (down) throw new Error('the test bed was torn down');
    const { privateShm, ...spawnOptions } = o;
    // `ip netns exec` gives the command a mount namespace of its own; unshare and sh exec in turn,
    // so the pid stays the command's.
    const argv = privateShm
      ? ['netns', 'exec', h.ns, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=2g,mode=1777 tmpfs /dev/shm && exec "$@"', 'sh', command, ...args]
      : ['netns', 'exec', h.ns, command, ...args];
    const child = spawn(IP, argv, spawnOptions);
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  };
  return {
    id,
    subnet: `${base}.0/24`,
    gateway: `${base}.1`,
    hosts,
    spawn: spawnIn,
    run: (i, command, args, o = {}) =>
      new Promise<RunResult>((resolve, reject) => {
        const { timeoutMs = 30_000, ...rest } = o;
        const child = spawnIn(i, command, args, { ...rest, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        child.once('error', (err) => {
          clearTimeout(t);
          reject(err);
        });
        child.once('exit', (code, signal) => {
          clearTimeout(t);
          resolve({ code, signal, stdout, stderr });
        });
      }),
    setLink: (i, up) => ip(['link', 'set', hosts[i].rootLink, up ? 'up' : 'down']),
    teardown,
  };
}

/**
 * The agent-held MEMORY tier with real processes: `eh run` workers snapshot to their agent's memory, are killed
 * with SIGKILL, and resume through an ordinary CheckpointManager.loadCheckpoint().
 */
import assert from 'node:assert/strict';
import { openSync, closeSync, readSync, writeSync, readdirSync, renameSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FIXTURES, pidAlive, readIf, startAgent, tempDir, waitFor } from '../agent/harness.js';

interface Start {
  rank: number;
  restart: number;
  pid: number;
  agent: number;
  from: number;
  tier: string;
  source: string;
  unreadable: string;
  verified: string;
}

function starts(events: string): Start[] {
  return [...events.matchAll(/start rank=(\d+) world=\d+ round=\d+ restart=(\d+) pid=(\d+) agent=(\d+) from=(\d+) tier=(\S+) source=(\S+) node=\S+ unreadable=(\S+) verified=(\S+)/g)].map((m) => ({
    rank: Number(m[1]),
    restart: Number(m[2]),
    pid: Number(m[3]),
    agent: Number(m[4]),
    from: Number(m[5]),
    tier: m[6],
    source: m[7],
    unreadable: m[8],
    verified: m[9],
  }));
}

const lastStep = (events: string): number => Math.max(0, ...[...events.matchAll(/step (\d+) rank=0/g)].map((m) => Number(m[1])));

/** The agent's snapshot files of rank 0, oldest first: [path, name]. */
function snapshotFiles(agentPid: number): Array<{ path: string; name: string; seq: number }> {
  const dir = readdirSync('/dev/shm').find((d) => d.startsWith(`eh-ckpt-${agentPid}-`));
  if (dir === undefined) return [];
  return readdirSync(join('/dev/shm', dir))
    .map((f) => /^(\d+)-r0-(step_\d+)$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ path: join('/dev/shm', dir, m[0]), name: m[2], seq: Number(m[1]) }))
    .sort((a, b) => a.seq - b.seq);
}

function run(tmp: string, env: Record<string, string>, extra: string[] = []): ReturnType<typeof startAgent> {
  return startAgent(['--standalone', '--nproc-per-node', '1', '--max-restarts', '2', '--monitor-interval', '0.1', '--standby-workers', '0', ...extra, join(FIXTURES, 'memory-ckpt.mjs')], {
    OUT_DIR: tmp,
    CKPT_DIR: join(tmp, 'ckpt'),
    TOTAL_STEPS: '30',
    STEP_MS: '100',
    ...env,
  });
}

test('SIGKILL a worker: it resumes from its agent\'s memory, with the disk tier unreadable', async () => {
  const tmp = tempDir('eh-agent-memory-');
  const agent = run(tmp.path, { DISK_STEPS: '2' });
  try {
    const events = (): string => readIf(join(tmp.path, 'events.log')) ?? '';
    await waitFor('step 8', () => lastStep(events()) >= 8, 30_000);
    // The disk tier cannot be read any more: its directory is now a file.
    renameSync(join(tmp.path, 'ckpt'), join(tmp.path, 'ckpt.moved'));
    writeFileSync(join(tmp.path, 'ckpt'), 'not a directory');
    const first = starts(events())[0];
    const killedAt = lastStep(events());
    process.kill(first.pid, 'SIGKILL');
    const again = await waitFor('the restarted worker', () => starts(events()).find((s) => s.restart === 1), 30_000);
    assert.equal(again.tier, 'MEMORY', events());
    assert.equal(again.source, 'agent');
    assert.equal(again.verified, 'ok');
    assert.ok(again.from >= killedAt && again.from > 2, `resumed from step ${again.from}, killed after ${killedAt} (the disk held step 2)`);
    assert.equal(again.unreadable, 'NVME', 'the disk tier was not readable, so it was not what the state came from');
    const r = await agent.exited(60_000);
    assert.equal(r.code, 0, agent.stderr());
    assert.match(events(), /done rank=0/);
    assert.match(agent.stderr(), new RegExp(`loaded step_0*${again.from} from tier MEMORY \\(this node's agent\\)`));
  } finally {
    agent.child.kill('SIGKILL');
    tmp.remove();
  }
});

test('a byte flipped in the agent\'s copy: that snapshot is refused, with a warning naming it, and the next older one loads', async () => {
  const tmp = tempDir('eh-agent-memory-');
  const agent = run(tmp.path, {});
  try {
    const events = (): string => readIf(join(tmp.path, 'events.log')) ?? '';
    await waitFor('step 6', () => lastStep(events()) >= 6, 30_000);
    const worker = starts(events())[0];
    // Stopped, so that no newer snapshot lands between the flip and the kill.
    process.kill(worker.pid, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 500));
    const files = snapshotFiles(agent.child.pid!);
    assert.ok(files.length >= 2, `snapshot files: ${JSON.stringify(files)}`);
    const newest = files[files.length - 1];
    const fd = openSync(newest.path, 'r+');
    const at = statSync(newest.path).size - 100;
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    b[0] ^= 0x40;
    writeSync(fd, b, 0, 1, at);
    closeSync(fd);
    process.kill(worker.pid, 'SIGKILL');
    const again = await waitFor('the restarted worker', () => starts(events()).find((s) => s.restart === 1), 30_000);
    const flippedStep = Number(newest.name.slice(5));
    assert.equal(again.tier, 'MEMORY', events());
    assert.equal(again.verified, 'ok');
    assert.ok(again.from < flippedStep && again.from > 0, `resumed from ${again.from}, the corrupt copy was step ${flippedStep}`);
    assert.match(agent.stderr(), new RegExp(`refusing the copy of ${newest.name} held by this node's agent .*[Cc]hecksum mismatch`));
    assert.match(agent.stderr(), new RegExp(`skipping checkpoint ${newest.name} on MEMORY`));
    const r = await agent.exited(60_000);
    assert.equal(r.code, 0, agent.stderr());
  } finally {
    agent.child.kill('SIGKILL');
    tmp.remove();
  }
});

test('the node\'s bound: older snapshots are evicted to fit it; a snapshot larger than it is refused with a clear error', async () => {
  const tmp = tempDir('eh-agent-memory-');
  // 1 MiB snapshots in a 2.5 MiB bound: at most two are held at once.
  const agent = run(tmp.path, { TOTAL_STEPS: '6', STEP_MS: '50' }, ['--memory-limit', '2.5']);
  try {
    const r = await agent.exited(60_000);
    assert.equal(r.code, 0, agent.stderr());
    assert.match(agent.stderr(), /memory tier: evicting step_0+\d of rank 0/);
    assert.doesNotMatch(readIf(join(tmp.path, 'events.log')) ?? '', /save-error/);
  } finally {
    agent.child.kill('SIGKILL');
  }
  const big = run(tmp.path, { TOTAL_STEPS: '2', STEP_MS: '50', STATE_MIB: '3' }, ['--memory-limit', '2.5']);
  try {
    const r = await big.exited(60_000);
    assert.equal(r.code, 0, big.stderr());
    const ev = readIf(join(tmp.path, 'events.log')) ?? '';
    assert.match(ev, /save-error rank=0 step=1 MemoryLimitExceeded: A memory snapshot needs \d+ bytes but the memory tier may hold at most 2621440/);
    assert.ok(!pidAlive(big.child.pid!));
  } finally {
    big.child.kill('SIGKILL');
    tmp.remove();
  }
});

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { launchWorkers, type WorkerGroup } from './launch-helper.js';
import { SharedSegments, segmentCapacity, sharedMemoryCapable, sweepStaleSegments } from '../../src/collective/shm/segments.js';
import { shmAddon, shmAddonError } from '../../src/collective/shm/native.js';

const WORKER = 'test/collective/worker.ts';
const groups: WorkerGroup[] = [];
const dirs: string[] = [];
after(async () => {
  for (const g of groups) await g.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

const canMount = typeof process.getuid === 'function' && process.getuid() === 0;

describe('shared memory: segments', () => {
  it('the addon is built and loads (npm ci builds it)', () => {
    assert.notEqual(shmAddon(), null, `${shmAddonError()}: run npm run build:native`);
    assert.equal(sharedMemoryCapable(), true);
  });

  it('capacities are powers of two from 1 MiB', () => {
    assert.equal(segmentCapacity(0), 1 << 20);
    assert.equal(segmentCapacity(1), 1 << 20);
    assert.equal(segmentCapacity((1 << 20) + 1), 2 << 20);
    assert.equal(segmentCapacity(64 << 20), 64 << 20);
    assert.equal(segmentCapacity((64 << 20) + 4), 128 << 20);
  });

  it('two mappings of one segment see each other’s writes, also after the file is unlinked', () => {
    const dir = tempDir('eh-shm-unit-');
    const pids = [process.pid, process.pid];
    const a = new SharedSegments(0, pids, 'group-x', dir);
    const b = new SharedSegments(1, pids, 'group-x', dir);
    const cap = segmentCapacity(10);
    assert.equal(a.createOwn(cap), '');
    assert.equal(b.createOwn(cap), '');
    assert.equal(a.mapPeers(cap), '');
    assert.equal(b.mapPeers(cap), '');
    a.unlinkOwn(cap);
    b.unlinkOwn(cap);
    a.commit(cap);
    b.commit(cap);
    assert.deepEqual(readdirSync(dir), [], 'unlinked once mapped');
    const aOwn = a.own as Buffer;
    const bSeesA = b.peers[0] as Buffer;
    aOwn.writeUInt32LE(0xdeadbeef, 12345);
    assert.equal(bSeesA.readUInt32LE(12345), 0xdeadbeef);
    (b.own as Buffer).fill(7, 0, 100);
    assert.equal((a.peers[1] as Buffer)[99], 7);
    assert.equal(a.usable(cap), true);
    assert.equal(a.usable(cap + 1), false);
    assert.equal(a.needsGrow(cap + 1), true);
    a.close();
    b.close();
  });

  it('a peer segment that does not exist is reported, not thrown', () => {
    const dir = tempDir('eh-shm-unit-');
    const a = new SharedSegments(0, [process.pid, deadPid()], 'group-y', dir);
    const cap = segmentCapacity(1);
    assert.equal(a.createOwn(cap), '');
    assert.match(a.mapPeers(cap), /rank 1's segment: .*ENOENT/);
    a.abandon(5000);
    assert.equal(a.needsGrow(5000), false, 'that size now goes over the sockets');
    assert.equal(a.needsGrow(4999), true);
    a.close();
    assert.deepEqual(readdirSync(dir), [], 'close unlinks what this rank created');
  });

  it('maps a peer segment only if it is a regular file of this user and of the right size, never through a symlink', () => {
    const dir = tempDir('eh-shm-unit-');
    const peerPid = deadPid();
    const a = new SharedSegments(0, [process.pid, peerPid], 'group-z', dir);
    const cap = segmentCapacity(1);
    assert.equal(a.createOwn(cap), '');
    const peerFile = a.fileOf(1, cap);
    writeFileSync(path.join(dir, 'elsewhere'), Buffer.alloc(cap));
    symlinkSync(path.join(dir, 'elsewhere'), peerFile);
    assert.match(a.mapPeers(cap), /rank 1's segment: .*ELOOP/);
    rmSync(peerFile);
    writeFileSync(peerFile, Buffer.alloc(100));
    assert.match(a.mapPeers(cap), /not a 1048576-byte file of this user/);
    a.close();
  });

  it('sweeps segments of dead processes and nothing else', () => {
    const dir = tempDir('eh-shm-sweep-');
    const dead = `eh-shm-${String(deadPid())}-abcdef012345-0-1048576`;
    const live = `eh-shm-${String(process.pid)}-abcdef012345-1-1048576`;
    for (const f of [dead, live, 'unrelated', 'eh-shm-notapid']) writeFileSync(path.join(dir, f), 'x');
    assert.equal(sweepStaleSegments(dir), 1);
    assert.deepEqual(readdirSync(dir).sort(), ['eh-shm-notapid', live, 'unrelated'].sort());
  });
});

describe('shared memory: real processes', { concurrency: 1 }, () => {
  it('a tmpfs too small for the large calls: every rank agrees to use the sockets for them, results stay right, nothing is left', { skip: canMount ? false : 'needs root to mount a tmpfs' }, async () => {
    const dir = tempDir('eh-shm-full-');
    // 1 MiB segments fit (one per rank); the 2 and 4 MiB ones of the largest calls do not.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dir]);
    try {
      const g = await launchWorkers({ n: 2, script: WORKER, args: ['correctness'], env: { EH_SHM_DIR: dir, EH_TEST_GROUP_OPTS: '{}' } });
      groups.push(g);
      const exits = await g.waitExit(150_000);
      const results = g.messages.filter((m) => m.type === 'correctness');
      assert.equal(results.length, 2, exits.map((e) => e.stderr).join('\n'));
      for (const r of results) {
        assert.deepEqual(r.failures, []);
        assert.equal(r.shm, true, 'small calls still use shared memory');
      }
      for (const e of exits) {
        assert.equal(e.code, 0, e.stderr);
        assert.match(e.stderr, /allReduce calls of \d+ bytes or more go over the sockets: no shared segment that large \(.*(ENOSPC|another rank)/);
      }
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      execFileSync('umount', [dir]);
    }
  });

  it('a window so small that a call would need more numbered phases than the header holds still reduces right', async () => {
    const g = await launchWorkers({ n: 2, script: WORKER, args: ['many-windows'], env: { EH_TEST_GROUP_OPTS: JSON.stringify({ sharedMemoryWindowBytes: 4 }) } });
    groups.push(g);
    const exits = await g.waitExit(60_000);
    const results = g.messages.filter((m) => m.type === 'many-windows');
    assert.equal(results.length, 2, exits.map((e) => e.stderr).join('\n'));
    for (const r of results) {
      assert.equal(r.bad, -1);
      assert.equal(r.shm, true);
    }
    for (const e of exits) assert.equal(e.code, 0, e.stderr);
  });

  it('ranks that see different segment directories fall back to the sockets together', async () => {
    const g = await launchWorkers({ n: 2, script: WORKER, args: ['correctness'], env: { EH_TEST_GROUP_OPTS: '{}' }, rankEnv: (r) => ({ EH_SHM_DIR: tempDir(`eh-shm-rank${String(r)}-`) }) });
    groups.push(g);
    const exits = await g.waitExit(150_000);
    const results = g.messages.filter((m) => m.type === 'correctness');
    assert.equal(results.length, 2, exits.map((e) => e.stderr).join('\n'));
    for (const r of results) assert.deepEqual(r.failures, []);
    for (const e of exits) {
      assert.equal(e.code, 0, e.stderr);
      assert.match(e.stderr, /go over the sockets: no shared segment that large \(.*(ENOENT|another rank)/);
    }
  });
});

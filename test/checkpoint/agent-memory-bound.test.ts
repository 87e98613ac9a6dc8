/** The agent's snapshot store: the node's bound, what is evicted to meet it, and what is refused. */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SnapshotFullError, SnapshotStore } from '../../src/agent/snapshot-store.js';
import { CheckpointState, planCheckpoint } from '../../src/checkpoint/index.js';

const MIB = 1024 * 1024;

function store(limitMib: number, other = 0): { s: SnapshotStore; lines: string[]; done: () => void } {
  const base = mkdtempSync(join(tmpdir(), 'eh-snapstore-'));
  const lines: string[] = [];
  const s = new SnapshotStore('node-a', limitMib * MIB, () => other, (l) => lines.push(l), base);
  return { s, lines, done: () => { s.close(); rmSync(base, { recursive: true, force: true }); } };
}

/** Allocates and seals (no worker: the file holds zeros, the plan describes them) a snapshot of about `mib`. */
async function put(s: SnapshotStore, step: number, mib: number, origin = 'node-a'): Promise<void> {
  const n = (mib * MIB) / 4;
  const { plan } = planCheckpoint(new CheckpointState({ step, modelStateDict: { w: { dtype: 'F32', shape: [n], data: new Float32Array(n) } } }).toDict(), { step });
  const snap = s.allocate(0, `step_${String(step).padStart(8, '0')}`, step, plan.totalBytes, origin);
  if (origin === 'node-a') await s.commit(0, snap.name, plan, { [plan.files[0].name]: 0 });
  else s.adopt(snap, '{}', {});
}

test('the oldest own snapshot is evicted to fit; a peer node\'s newest copy never is', async () => {
  const { s, lines, done } = store(3.5);
  try {
    await put(s, 1, 1, 'node-b');
    await put(s, 10, 1);
    await put(s, 20, 1);
    await put(s, 30, 1);
    assert.deepEqual(s.whole(0).map((x) => `${x.origin}:${x.step}`), ['node-a:30', 'node-a:20', 'node-b:1']);
    assert.match(lines.join('\n'), /evicting step_00000010 of rank 0 \(node node-a/);
    assert.ok(s.usedBytes <= 3.5 * MIB);
    assert.equal(readdirSync(s.dir).length, 3, 'an evicted snapshot\'s file is gone');
    assert.match(s.describeUsage(), /3 snapshot\(s\), 2\.0 MiB own \+ 1\.0 MiB for peers of 3\.5 MiB/);
  } finally {
    done();
  }
});

test('a snapshot larger than the bound, or that fits only by evicting every node\'s newest, is refused', async () => {
  const { s, done } = store(2.5, 0.5 * MIB);
  try {
    assert.throws(() => s.allocate(0, 'step_00000001', 1, 3 * MIB), (e: unknown) => e instanceof SnapshotFullError && /more than this node's bound of 2\.5 MiB: raise --memory-limit/.test(e.message));
    await put(s, 5, 1, 'node-b');
    await put(s, 6, 0.5, 'node-c');
    // 0.5 MiB of agentMemory blobs + 1.5 MiB of other nodes' newest copies: 1 MiB more does not fit.
    assert.throws(() => s.allocate(0, 'step_00000007', 7, 1 * MIB), (e: unknown) => e instanceof SnapshotFullError && /does not fit/.test(e.message));
    assert.equal(s.whole(0).length, 2, 'nothing held was lost');
  } finally {
    done();
  }
});

test('a name that is not one plain segment is refused before any file is made', () => {
  const { s, done } = store(4);
  try {
    for (const bad of ['../../etc/passwd', 'a/b', '.hidden', '']) assert.throws(() => s.allocate(0, bad, 1, 100), /is not a checkpoint name/);
  } finally {
    done();
  }
});

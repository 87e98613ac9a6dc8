import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './run-helper.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function demo(args: string[]): { out: string; code: number | null; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'eh-demo-'));
  dirs.push(dir);
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'examples/demo.ts', '--epochs', '2', '--kill-at', '150', '--dir', dir, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { out: r.stdout + r.stderr, code: r.status, dir };
}

describe('the demo, end to end', { skip: !existsSync(join(ROOT, 'dist', 'cli', 'main.js')) ? 'needs npm run build' : false }, () => {
  it('with a worker SIGKILLed part-way and without: recovery shown, >= 95 % held out, the same final weights', () => {
    const faulty = demo([]);
    assert.equal(faulty.code, 0, faulty.out);
    assert.match(faulty.out, /FAULT: killed rank 1 \(pid \d+\) with SIGKILL after step 15\d/);
    assert.match(faulty.out, /recovered: [\d.]+ s from the kill to the next step \(restored from (NVME|MEMORY) at step \d+/);
    assert.match(faulty.out, /held-out accuracy\s+9[5-9]\.\d+ %/);
    assert.match(faulty.out, /tensorboard --logdir /);
    assert.ok(readdirSync(join(faulty.dir, 'logs')).some((f) => f.startsWith('events.out.tfevents.')), 'TensorBoard event files written');
    const clean = demo(['--no-fault']);
    assert.equal(clean.code, 0, clean.out);
    assert.doesNotMatch(clean.out, /FAULT/);
    const hash = (s: string) => /final weights hash\s+([0-9a-f]{64})/.exec(s)?.[1];
    assert.ok(hash(faulty.out) !== undefined);
    assert.equal(hash(faulty.out), hash(clean.out), 'the fault changed nothing');
  });
});

/** Runs test/data/e2e-worker.ts under `eh run --standalone` and reads its events back. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startAgent } from '../agent/harness.js';

const WORKER = join(ROOT, 'test', 'data', 'e2e-worker.ts');

export interface Event {
  t: string;
  rank?: number;
  step?: number;
  when?: string;
  pendingSaves?: number;
  loss?: number;
  samples?: number;
  world?: number;
  resumed?: number;
  restart: number;
  kind?: string;
  oldWorldSize?: number;
  newWorldSize?: number;
  recoveryTime?: number;
  checkpointTier?: string;
  stepResumed?: number;
}

export function events(path: string): Event[] {
  return readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Event);
}

export async function run(dir: string, name: string, nproc: number, extra: Record<string, string>): Promise<{ events: Event[]; weights: Buffer | null }> {
  const ev = join(dir, `${name}.log`);
  const weights = join(dir, `${name}.bin`);
  const agent = startAgent(['--standalone', '--nproc-per-node', String(nproc), '--max-restarts', '5', '--standby-workers', '0', '--grace-period', '2', WORKER], {
    EVENTS: ev,
    CKPT: join(dir, extra.CKPT_NAME ?? name),
    WEIGHTS_OUT: weights,
    N: '300',
    EPOCHS: '2',
    ...extra,
  });
  const r = await agent.exited(80_000);
  assert.equal(r.code, 0, `eh run ${name} failed\n${agent.stderr()}`);
  return { events: events(ev), weights: existsSync(weights) ? readFileSync(weights) : null };
}


/**
 * A network outage on one host, for real: two network-namespace hosts, etcd on the bridge, one
 * `eh run` per host training in steps (an allreduce every 200 ms). Host 1's link is taken down
 * mid-run (no reset, nothing: its agent loses etcd and its worker its peer), then brought back.
 * - Shorter than the keep-alive window (8 s against 15 s): no node is lost; the workers find the
 *   silent peer, restart once, and the job ends at world 2 with both agents succeeding. With etcd,
 *   and with the TCP store hosted by host 0's agent (host 1's client reconnects).
 * - Longer than the keep-alive window (8 s against 3 s, --nnodes 1:2): host 0 goes on at world 1;
 *   host 1's agent, once etcd answers again, joins as a new node and the job scales back to 2.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { netnsUnavailable } from '../helpers/netns.js';
import { hostsBed, type HostsBed } from './job-on-bed.js';
import { ROOT } from '../agent/harness.js';

const unavailable = netnsUnavailable();
const STEPS = join(ROOT, 'test', 'fixtures', 'hosts', 'steps.mjs');
const OUTAGE_MS = 8000;

interface Progress {
  step: number;
  world: number;
  restart: number;
  at: number;
}

function progress(out: string): Progress[] {
  const f = join(out, 'progress');
  if (!existsSync(f)) return [];
  return readFileSync(f, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Progress);
}

/** The first step matching `pred`, polled every 100 ms for up to `timeoutMs`. */
async function stepWhere(out: string, pred: (p: Progress) => boolean, timeoutMs: number, what: string): Promise<Progress> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = progress(out).find(pred);
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) throw new Error(`no step where ${what} within ${String(timeoutMs)} ms; steps: ${JSON.stringify(progress(out).slice(-5))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a network outage on one host', { skip: unavailable }, () => {
  let h: HostsBed | undefined;
  before(async () => {
    h = await hostsBed(2);
  });
  after(async () => {
    await h?.close();
  });

  /** Run the job; `during` cuts and restores host 1's link, then the job is told to finish. */
  async function runOutage(o: { nnodes: string; conf: string; backend?: 'etcd' | 'tcp'; during: (out: string, cut: () => Promise<{ downAt: number; upAt: number }>) => Promise<void> }) {
    const b = h as HostsBed;
    return b.job([{ host: 0 }, { host: 1 }], {
      nnodes: o.nnodes,
      conf: o.conf,
      backend: o.backend,
      maxRestarts: 3,
      script: STEPS,
      timeoutMs: 100_000,
      during: async (out) => {
        try {
          await stepWhere(out, (p) => p.world === 2 && p.step >= 5, 60_000, 'the job runs at world 2');
          await o.during(out, async () => {
            b.bed.setLink(1, false);
            const downAt = Date.now();
            try {
              await new Promise((r) => setTimeout(r, OUTAGE_MS));
            } finally {
              b.bed.setLink(1, true);
            }
            return { downAt, upAt: Date.now() };
          });
        } finally {
          b.bed.setLink(1, true);
          writeFileSync(join(out, 'finish'), '1');
        }
      },
    });
  }

  for (const backend of ['etcd', 'tcp'] as const) {
    it(`${backend} store, down for ${String(OUTAGE_MS / 1000)} s, inside the keep-alive window: no node lost, at most one restart, the job ends at world 2`, async () => {
      let figures = '';
      const { results, reports } = await runOutage({
        nnodes: '2',
        conf: '',
        backend,
        during: async (out, cut) => {
          const { upAt } = await cut();
          const back = await stepWhere(out, (p) => p.world === 2 && p.at > upAt, 45_000, 'world 2 after the link is back');
          figures = `${backend}: training at world 2 again ${String(back.at - upAt)} ms after the link came back (restart count ${String(back.restart)})`;
        },
      });
      for (const r of results) assert.equal(r.code, 0, r.stdout + r.stderr);
      const all = results.map((r) => r.stderr).join('\n');
      assert.doesNotMatch(all, /lost the store|FAILED/);
      for (const rep of reports) {
        assert.ok(rep !== undefined);
        assert.equal(rep.world, 2, 'the job ended at world 2');
        assert.ok(rep.restart <= 1, `at most one restart, got ${JSON.stringify(rep)}`);
      }
      process.stdout.write(`# ${figures}\n`);
    });
  }

  it(`down for ${String(OUTAGE_MS / 1000)} s, past a 3 s keep-alive window: the job goes on at world 1, then scales back to 2`, async () => {
    let figures = '';
    const { results, reports } = await runOutage({
      nnodes: '1:2',
      conf: ',keep_alive_interval=1,keep_alive_max_attempt=3',
      during: async (out, cut) => {
        const cutting = cut();
        const alone = await stepWhere(out, (p) => p.world === 1, OUTAGE_MS + 5000, 'world 1 during the outage');
        const { downAt, upAt } = await cutting;
        assert.ok(alone.at < upAt, 'host 0 trained at world 1 while host 1 was cut off');
        const back = await stepWhere(out, (p) => p.world === 2 && p.at > upAt, 45_000, 'world 2 after the link is back');
        figures = `world 1 ${String(alone.at - downAt)} ms after the cut; world 2 again ${String(back.at - upAt)} ms after the link came back (restart count ${String(back.restart)})`;
      },
    });
    for (const r of results) assert.equal(r.code, 0, r.stdout + r.stderr);
    const all = results.map((r) => r.stderr).join('\n');
    assert.doesNotMatch(all, /lost the store|FAILED/);
    for (const rep of reports) {
      assert.ok(rep !== undefined);
      assert.equal(rep.world, 2, 'the job scaled back to world 2');
      assert.ok(rep.restart <= 1, `at most one restart, got ${JSON.stringify(rep)}`);
    }
    process.stdout.write(`# ${figures}\n`);
  });
});

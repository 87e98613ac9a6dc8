/**
 * The end of a job (torch's `_exit_barrier`): every agent counts itself finished in the store. The agent
 * hosting the TCP store, having succeeded, then waits for the other nodes of its last round to finish
 * too: leaving at once would take the store away from workers still completing their last steps. It
 * stops waiting when they are done, when one of them stops keeping alive (it died; nothing to wait
 * for), on a stop signal, or after `timeoutMs`. A failed job does not wait.
 */
import type { AgentRendezvous } from './agent-rendezvous.js';
import type { AgentSignals } from './agent-signals.js';
import type { JobRecord } from './job-record.js';
import type { AgentStore } from './store-setup.js';

/** How long the agent hosting the store waits, at most, for the other nodes to finish after its own workers did. */
export const EXIT_BARRIER_MS = 300_000;

export interface ExitBarrierOptions {
  store: AgentStore;
  rdzv: AgentRendezvous;
  job: JobRecord;
  signals: AgentSignals;
  succeeded: boolean;
  /** Nodes in the last round this agent joined. */
  nodeCount: number;
  log: (line: string) => void;
  timeoutMs?: number;
}

export async function exitBarrier(o: ExitBarrierOptions): Promise<void> {
  await o.job.countFinished().catch(() => undefined);
  if (!o.store.hosting || !o.succeeded || o.nodeCount <= 1) return;
  const end = Date.now() + (o.timeoutMs ?? EXIT_BARRIER_MS);
  let logged = false;
  while (Date.now() < end && o.signals.signalled === undefined) {
    const done = await o.job.finishedCount().catch(() => 0);
    if (done >= o.nodeCount) return;
    if (await o.rdzv.isRoundStale().catch(() => true)) return;
    if (!logged) {
      o.log(`hosting the store: waiting for ${o.nodeCount - done} other node(s) to finish`);
      logged = true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

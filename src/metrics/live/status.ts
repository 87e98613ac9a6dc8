import type { JobEvent } from './events.js';
import type { JobSnapshot } from './monitor.js';

function when(t: number | null): string {
  return t === null ? '-' : new Date(t).toISOString().replace('T', ' ').slice(0, 19);
}

function describe(e: JobEvent): string {
  switch (e.type) {
    case 'failure':
      return `rank ${e.rank} failed (${e.signal ?? `exit ${String(e.exitCode)}`}): ${e.reason}`;
    case 'restart':
      return `restart ${e.restartCount} of ${e.maxRestarts}`;
    case 'recovery':
      return `recovered in ${e.seconds.toFixed(3)} s from ${e.tier} at step ${e.step}`;
    case 'rendezvous':
      return `rendezvous round ${e.round}: world size ${e.worldSize}, node rank ${e.nodeRank} of ${e.nnodes}`;
    case 'world-size':
      return `world size ${e.from} -> ${e.to}`;
    case 'checkpoint':
      return `checkpoint at step ${String(e.step)} on ${e.tier} (rank ${e.rank}, ${e.seconds.toFixed(3)} s)`;
    case 'workers-started':
      return `workers started (ranks ${e.ranks.join(', ')}, restart count ${e.restartCount})`;
    case 'worker-state':
      return `rank ${e.rank}: ${e.state}`;
    case 'job-start':
      return `job started: ${e.nnodes} node(s) x ${e.nprocPerNode} worker(s), max restarts ${e.maxRestarts}`;
    case 'job-end':
      return `job ${e.outcome} (exit ${e.exitCode})`;
  }
}

/** `eh status`: the job's state as a few lines of text. */
export function formatJobStatus(s: JobSnapshot, recent = 10): string {
  const out: string[] = [];
  const state = s.outcome ?? (s.startedAt === null ? 'unknown' : 'running');
  out.push(`job ${s.job}${s.node !== '' ? ` (node ${s.node})` : ''}: ${state}`);
  out.push(`  started ${when(s.startedAt)}${s.endedAt !== null ? `, ended ${when(s.endedAt)}` : ''}`);
  out.push(`  world size ${s.worldSize ?? '-'}, round ${s.round ?? '-'}, restarts ${s.restartCount} of ${s.maxRestarts ?? '?'}, failures ${s.failuresTotal}`);
  if (s.lastRecovery !== null) out.push(`  last recovery: ${s.lastRecovery.seconds.toFixed(3)} s from ${s.lastRecovery.tier}, resumed at step ${s.lastRecovery.step}`);
  out.push('  workers:');
  if (s.workers.length === 0) out.push('    (none yet)');
  for (const w of s.workers) out.push(`    rank ${String(w.rank).padEnd(4)} ${w.state.padEnd(10)} step ${String(w.step ?? '-').padEnd(8)} loss ${w.loss === null ? '-' : w.loss.toPrecision(4)}  failures ${w.failures}`);
  out.push('  last checkpoint per tier:');
  const tiers = Object.keys(s.lastCheckpoint).sort();
  if (tiers.length === 0) out.push('    (none reported)');
  for (const t of tiers) {
    const c = s.lastCheckpoint[t];
    out.push(`    ${t.padEnd(8)} step ${String(c.step ?? '-').padEnd(8)} at ${when(c.time)}  (${s.checkpointsPerTier[t] ?? 0} saved)`);
  }
  out.push('  recent events:');
  const events = s.events.filter((e) => e.type !== 'worker-state').slice(-recent);
  if (events.length === 0) out.push('    (none)');
  for (const e of events) out.push(`    ${when(e.time)}  ${describe(e)}`);
  return out.join('\n');
}

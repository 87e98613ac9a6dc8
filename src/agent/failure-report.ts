/** The record of a worker failure, kept in the store so that any agent's final report names the job's root cause. */
import type { ErrorRecord } from './error-file.js';

export type FailureReason = 'exit' | 'signal' | 'hang' | 'startup';

export interface FailureRecord {
  reason: FailureReason;
  rank: number;
  localRank: number;
  nodeId: string;
  nodeRank: number;
  round: number;
  attempt: number;
  exitCode: number | null;
  signal: string | null;
  /** ISO time the agent saw the failure. */
  time: string;
  errorFile: string;
  error?: ErrorRecord;
  stderrTail: string[];
  /** Diagnostic report of a hung worker. */
  reportPath?: string;
  /** Start-up error message the worker sent. */
  startupMessage?: string;
}

export interface ReportContext {
  attempts: number;
  restarts: number;
  maxRestarts: number;
  logDir: string;
  headline: string;
}

function describeFailure(f: FailureRecord): string {
  if (f.reason === 'hang') return 'stopped sending heartbeats (hung) and was killed';
  if (f.reason === 'startup') return `failed during start-up (${f.signal !== null ? `signal ${f.signal}` : `exit code ${String(f.exitCode)}`})`;
  if (f.signal !== null) return `killed by signal ${f.signal}`;
  return `exited with code ${String(f.exitCode)}`;
}

/** A printable report: what failed first (the root cause), with its error, stack and last stderr lines. */
export function formatFailureReport(root: FailureRecord | undefined, ctx: ReportContext): string {
  const lines = ['='.repeat(72), `eh run: ${ctx.headline}`, '-'.repeat(72)];
  if (root !== undefined) {
    lines.push('Root cause (first failure observed in the job):');
    lines.push(`  rank       : ${root.rank} (local rank ${root.localRank}, node ${root.nodeId}, node rank ${root.nodeRank})`);
    lines.push(`  what       : ${describeFailure(root)}`);
    lines.push(`  time       : ${root.time}`);
    lines.push(`  attempt    : ${root.attempt} (rendezvous round ${root.round})`);
    if (root.startupMessage !== undefined) lines.push(`  start-up   : ${root.startupMessage}`);
    if (root.error !== undefined) {
      lines.push(`  error      : ${root.error.name}: ${root.error.message}`);
      lines.push(`  error file : ${root.errorFile}`);
      const stack = root.error.stack.split('\n').slice(0, 12);
      if (stack.length > 0 && stack[0] !== '') lines.push('  stack      :', ...stack.map((s) => `    ${s}`));
    } else {
      lines.push(`  error file : ${root.errorFile} (not written: the worker died without recording an error)`);
    }
    if (root.reportPath !== undefined) lines.push(`  diagnostic report: ${root.reportPath}`);
    if (root.stderrTail.length > 0) lines.push('  last stderr lines:', ...root.stderrTail.slice(-15).map((s) => `    | ${s}`));
  } else {
    lines.push('No worker failure was recorded.');
  }
  lines.push('-'.repeat(72));
  lines.push(`attempts: ${ctx.attempts}; restarts: ${ctx.restarts} of --max-restarts ${ctx.maxRestarts}; logs: ${ctx.logDir}`);
  lines.push('='.repeat(72));
  return lines.join('\n');
}

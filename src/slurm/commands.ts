import { execFile } from 'node:child_process';
import { SLURMError } from './errors.js';

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Runs a SLURM client command (never through a shell); ENOENT (not installed) is a SLURMError saying so. */
export function runCommand(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env: options.env, cwd: options.cwd, timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(
          new SLURMError(`${command} was not found on PATH`, {
            command: `${command} ${args.join(' ')}`,
            suggestions: [`Run this on a SLURM login node (where ${command} is installed), or use dryRun / --dry-run to only write the scripts.`],
            cause: err,
          }),
        );
        return;
      }
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ stdout: String(stdout), stderr: String(stderr), code });
    });
  });
}

/** sbatch's own message without its "sbatch: error: " prefixes. */
export function sbatchMessage(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.replace(/^sbatch: (error|fatal): /, '').trim()).filter((l) => l !== '');
  return lines.join('; ') || 'sbatch failed without a message';
}

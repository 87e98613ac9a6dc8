/**
 * Python workers: which jobs are Python jobs (`eh run train.py`, or `--no-node python3 train.py`), the
 * command that starts one through the shipped bootstrap (eh_bootstrap.py), and the default preload.
 * The agent owns the interpreter directly (no shim): it runs in its own process group, talks JSON over
 * Node's IPC channel, and its bootstrap kills that group when the channel closes (the agent died).
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Debian's interpreter (python3-torch installs torch for it), not whatever python3 comes first in PATH. */
export const DEFAULT_PYTHON = '/usr/bin/python3';

export interface PythonJob {
  /** The interpreter. */
  python: string;
  /** The .py script, as given (relative to the working directory, like `python train.py`). */
  script: string;
  args: string[];
}

const INTERPRETER = /^python[0-9.]*$/;

/** The Python job `script args` means, or undefined when it is not one. */
export function pythonJobOf(script: string, args: readonly string[], options: { noNode: boolean; python?: string }): PythonJob | undefined {
  if (!options.noNode && extname(script).toLowerCase() === '.py') return { python: options.python ?? DEFAULT_PYTHON, script, args: [...args] };
  // `--no-node python3 train.py ...`: the same job, with the interpreter the user named.
  if (options.noNode && INTERPRETER.test(basename(script)) && args.length > 0 && extname(args[0]).toLowerCase() === '.py') {
    return { python: script, script: args[0], args: args.slice(1) };
  }
  return undefined;
}

/**
 * The bootstrap file. It is not compiled, so it lives in src/ only; both src/agent/python/ (under tsx)
 * and dist/agent/python/ are three levels below the package root.
 */
export function bootstrapPath(): string {
  const here = fileURLToPath(new URL('./eh_bootstrap.py', import.meta.url));
  if (existsSync(here)) return here;
  return fileURLToPath(new URL('../../../src/agent/python/eh_bootstrap.py', import.meta.url));
}

/** `-u` as torchrun passes it: unbuffered output, so each line reaches the agent's console when printed. */
export function pythonCommand(job: PythonJob, standby: boolean): { file: string; args: string[] } {
  return { file: job.python, args: ['-u', bootstrapPath(), ...(standby ? ['--eh-standby'] : [job.script, ...job.args])] };
}

/**
 * Modules a standby imports when --preload is not given: torch and torch.distributed for a script that
 * imports torch (the slow part of a PyTorch worker's start); otherwise none (the interpreter's start is
 * still saved). Only library modules: a user's own module may read RANK at import, which a standby has not.
 */
export function defaultPythonPreload(job: PythonJob, cwd: string): string[] {
  let text: string;
  try {
    text = readFileSync(resolve(cwd, job.script), 'utf8');
  } catch {
    return [];
  }
  return /^\s*(import|from)\s+torch\b/m.test(text) ? ['torch', 'torch.distributed'] : [];
}

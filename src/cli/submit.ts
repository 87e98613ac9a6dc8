import { basename, extname, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigurationError } from '../errors/index.js';
import { loadSweepFile } from '../experiments/index.js';
import { SLURMLauncher } from '../slurm/index.js';
import { cliAction, formatTable } from './sweep.js';

interface SubmitOpts {
  template: string;
  dryRun?: boolean;
  maxConcurrent?: string;
  script?: string;
  useGitBranch?: boolean;
  experimentsDir?: string;
  ehCommand?: string;
}

/** How the jobs call eh: by default exactly as this eh was called (the same Node, loaders and entry point). */
function defaultEhCommand(): string[] {
  return [process.execPath, ...process.execArgv, resolve(process.argv[1])];
}

/** `eh submit GRID.yaml --template T`: submit a sweep's experiments to SLURM as one job array. */
export function registerSubmitCommand(program: Command): void {
  program
    .command('submit')
    .argument('<grid>', 'a sweep file (YAML or JSON)')
    .requiredOption('--template <file>', 'the SBATCH template ("default" for the built-in one)')
    .option('--dry-run', 'write the experiment directories and scripts, submit nothing')
    .option('--max-concurrent <n>', 'array tasks running at once (default: the file\'s max_concurrent, else all)')
    .option('--script <path>', 'the training script (default: the file\'s script)')
    .option('--use-git-branch', 'snapshot the working tree to branch eh/<experiment> and run each job from it')
    .option('--experiments-dir <dir>', 'where experiment directories go (default: the file\'s experiments_dir, else ./experiments)')
    .option('--eh-command <cmd>', 'how jobs call eh, words separated by spaces (default: this eh, by absolute path)')
    .description('submit a sweep to SLURM: one job array, %max-concurrent at a time, a directory per experiment')
    .action(
      cliAction('submit', async (file: string, o: SubmitOpts) => {
        const sweep = await loadSweepFile(file);
        const script = o.script ?? sweep.script;
        if (script === undefined) throw new ConfigurationError(`No training script for ${file}`, { configKey: 'script', suggestions: ['Pass --script train.ts, or add `script: train.ts` to the sweep file.'] });
        let maxConcurrent = sweep.maxConcurrent;
        if (o.maxConcurrent !== undefined) {
          maxConcurrent = Number(o.maxConcurrent);
          if (!Number.isSafeInteger(maxConcurrent) || maxConcurrent < 1) throw new ConfigurationError(`--max-concurrent takes a whole number >= 1, got ${JSON.stringify(o.maxConcurrent)}`);
        }
        const launcher = new SLURMLauncher({
          projectRoot: process.cwd(),
          experimentsDir: o.experimentsDir ?? sweep.experimentsDir,
          templatePath: o.template === 'default' ? undefined : resolve(o.template),
          ehCommand: o.ehCommand !== undefined ? o.ehCommand.split(' ').filter((w) => w !== '') : defaultEhCommand(),
        });
        const check = launcher.engine.validate();
        for (const w of check.warnings) process.stderr.write(`eh submit: warning: ${w}\n`);
        const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
        const result = await launcher.submitExperimentBatch({
          experiments: [...sweep.search.generateExperiments()],
          scriptPath: script,
          scriptArgs: sweep.scriptArgs,
          maxConcurrent,
          useGitBranch: o.useGitBranch === true,
          dryRun: o.dryRun === true,
          batchName: `${basename(file, extname(file))}-${stamp}`,
        });
        const rows = result.jobResults.map((r) => [r.experimentName, r.jobId ?? (r.success ? '(dry run)' : '-'), r.success ? 'ok' : `FAILED: ${(r.error ?? '').split('\n')[0]}`]);
        process.stdout.write(`${formatTable(['experiment', 'job', 'submission'], rows)}\n`);
        const head = result.dryRun ? `dry run: ${result.successCount} experiment(s) written; array script ${result.arrayScriptPath}` : `submitted ${result.successCount}/${result.totalExperiments} as job array ${result.arrayJobId ?? '-'}${maxConcurrent !== undefined ? ` (%${maxConcurrent})` : ''}`;
        process.stdout.write(`${head}\n`);
        if (result.failureCount > 0) process.exitCode = 1;
      }),
    );
}

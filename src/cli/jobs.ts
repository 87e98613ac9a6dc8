import { resolve } from 'node:path';
import type { Command } from 'commander';
import { SLURMLauncher, readJobRecords } from '../slurm/index.js';
import { cliAction, formatTable } from './sweep.js';

/** `eh jobs`: the states of the jobs `eh submit` recorded in <experiments-dir>/jobs.json. */
export function registerJobsCommand(program: Command): void {
  program
    .command('jobs')
    .option('--experiments-dir <dir>', 'the experiments directory eh submit used', 'experiments')
    .option('--json', 'print JSON instead of a table')
    .description('show the SLURM states of submitted experiments (squeue, scontrol, sacct where it exists)')
    .action(
      cliAction('jobs', async (o: { experimentsDir: string; json?: boolean }) => {
        const dir = resolve(o.experimentsDir);
        const records = readJobRecords(dir);
        if (records.length === 0) {
          process.stderr.write(`eh jobs: no submitted jobs recorded in ${dir} (eh submit records them in jobs.json there)\n`);
          process.exitCode = 1;
          return;
        }
        const status = await new SLURMLauncher({ projectRoot: process.cwd(), experimentsDir: dir }).getJobStatus(records.map((r) => r.jobId));
        if (o.json === true) {
          process.stdout.write(`${JSON.stringify(records.map((r) => ({ ...r, ...status.get(r.jobId) })), null, 2)}\n`);
          return;
        }
        const rows = records.map((r) => {
          const s = status.get(r.jobId);
          return [r.experimentName, r.jobId, s?.state ?? 'UNKNOWN', s?.reason ?? '', s?.elapsed ?? '', s?.restarts !== undefined ? String(s.restarts) : ''];
        });
        process.stdout.write(`${formatTable(['experiment', 'job', 'state', 'reason', 'elapsed', 'restarts'], rows)}\n`);
      }),
    );
}

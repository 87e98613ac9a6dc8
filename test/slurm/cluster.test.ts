/**
 * The launcher on a real one-node SLURM cluster (slurm-wlm + munge, started by test/helpers/slurm.ts). Four jobs run
 * at once to keep the file's time bounded (about 2 minutes, most of it the 1-minute time limits):
 * - a batch of 3 experiments with maxConcurrent 2 runs to COMPLETED with never more than 2 tasks running;
 * - a training job reaching its time limit gets the early signal, writes an emergency checkpoint, is requeued
 *   and resumes from it to the same final weights as an uninterrupted run;
 * - the same without scontrol on the job's PATH: a clear error, exit with the requeue code, requeued by
 *   RequeueExit, resumed;
 * - a job killed at its time limit with no early signal (TIMEOUT), requeued, resumes from its last regular
 *   checkpoint to the same final weights.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ParameterGrid, ParameterGridSearch, type ExperimentConfig } from '../../src/experiments/index.js';
import { FINAL_STATES, REQUEUE_EXIT_CODE, SLURMLauncher, type JobStatus } from '../../src/slurm/index.js';
import { slurmUnavailable, startSlurmCluster, type SlurmCluster } from '../helpers/slurm.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = 'test/slurm/fixtures/train.ts';
const EH = [process.execPath, '--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts')];
// 60 steps at 2 s: 120 s, well past the 1-minute limit (plus SLURM's up to 30 s of lateness) on the first run.
const SLOW = ['--steps', '60', '--every', '5', '--step-ms', '2000'];

function experiment(name: string, slurm: Record<string, unknown>): ExperimentConfig {
  return { experimentName: name, slurm: { time: '00:05:00', mem: '500M', grace_period: 10, max_restarts: 0, ...slurm } } as unknown as ExperimentConfig;
}

function readLog(dir: string, jobId: string): string {
  const f = join(dir, `slurm_${jobId}.out`);
  return existsSync(f) ? readFileSync(f, 'utf8') : '';
}

function finalHash(dir: string): string | undefined {
  const f = join(dir, 'final.json');
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as { hash: string }).hash : undefined;
}

describe('SLURM launcher on a real cluster', { timeout: 280_000 }, () => {
  let cluster: SlurmCluster | undefined;
  let work: string;
  let reference: string;

  before(async () => {
    const why = slurmUnavailable();
    assert.equal(why, undefined, `the SLURM integration test needs a local cluster: ${why}`);
    work = mkdtempSync(join(tmpdir(), 'eh-slurm-test-'));
    // The same training, uninterrupted, outside SLURM: the weights every interrupted run must end with.
    const refDir = join(work, 'reference');
    mkdirSync(refDir);
    const r = spawnSync(EH[0], [...EH.slice(1), 'run', '--standalone', SCRIPT, 'none', '--steps', '60', '--every', '5'], { cwd: ROOT, env: { ...process.env, EH_EXPERIMENT_DIR: refDir }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    reference = finalHash(refDir)!;
    assert.match(reference, /^[0-9a-f]{64}$/);
    cluster = await startSlurmCluster({ extraConf: [`RequeueExit=${REQUEUE_EXIT_CODE}`] });
  });

  after(async () => {
    await cluster?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  async function waitFinal(launcher: SLURMLauncher, ids: string[], timeoutMs: number, onPoll?: (s: Map<string, JobStatus>) => void): Promise<Map<string, JobStatus>> {
    const end = Date.now() + timeoutMs;
    while (true) {
      const s = await launcher.getJobStatus(ids);
      onPoll?.(s);
      if ([...s.values()].every((j) => FINAL_STATES.has(j.state))) return s;
      if (Date.now() > end) assert.fail(`jobs did not finish in time: ${JSON.stringify([...s.values()])}\n${cluster!.logs()}`);
      await sleep(500);
    }
  }

  test('a batch, an early-signal requeue, a requeue without scontrol and a time-limit kill, all on one cluster', async (t) => {
    const c = cluster!;
    const experimentsDir = join(work, 'experiments');
    const launcher = new SLURMLauncher({ projectRoot: ROOT, experimentsDir, ehCommand: EH, env: c.env });

    // A sweep of 3 experiments as one job array, 2 at once.
    const search = new ParameterGridSearch({ experimentName: 'batch', slurm: { time: '00:05:00', mem: '500M', grace_period: 10, max_restarts: 0 } });
    search.addGrid(new ParameterGrid('seeds').addParameter('training.seed', [1, 2, 3]));
    const experiments = [...search.generateExperiments()];
    const batch = await launcher.submitExperimentBatch({ experiments, scriptPath: SCRIPT, scriptArgs: ['--steps', '20', '--every', '5', '--step-ms', '300'], maxConcurrent: 2, batchName: 'seeds' });
    assert.equal(batch.successCount, 3, JSON.stringify(batch.errors));
    assert.equal(batch.successRate, 1);
    assert.match(readFileSync(batch.arrayScriptPath!, 'utf8'), /^#SBATCH --job-name=seeds$/m);

    // The early signal: requeued by scontrol, resumed from the emergency checkpoint.
    const signalled = await launcher.submitSingleExperiment({ config: experiment('signalled', { time: '1', signal_time: 40 }), scriptPath: SCRIPT, scriptArgs: SLOW });
    assert.ok(signalled.success, signalled.error);

    // The same with no scontrol inside the job: only sbatch, squeue and what the script calls are on its PATH.
    const bin = join(work, 'bin-without-scontrol');
    mkdirSync(bin);
    for (const tool of ['sbatch', 'squeue', 'hostname', 'date']) symlinkSync(`/usr/bin/${tool}`, join(bin, tool));
    const noScontrol = new SLURMLauncher({ projectRoot: ROOT, experimentsDir, ehCommand: EH, env: { ...c.env, PATH: bin } });
    const fallback = await noScontrol.submitSingleExperiment({ config: experiment('no-scontrol', { time: '1', signal_time: 40 }), scriptPath: SCRIPT, scriptArgs: SLOW });
    assert.ok(fallback.success, fallback.error);

    // No early signal: killed at the time limit.
    const killed = await launcher.submitSingleExperiment({ config: experiment('killed', { time: '1', signal_time: 0 }), scriptPath: SCRIPT, scriptArgs: SLOW });
    assert.ok(killed.success, killed.error);
    assert.doesNotMatch(readFileSync(killed.scriptPath, 'utf8'), /--signal/);

    // sbatch's own refusal reaches the result.
    const refused = await launcher.submitSingleExperiment({ config: experiment('too-big', { mem: '100G' }), scriptPath: SCRIPT });
    assert.equal(refused.success, false);
    assert.match(refused.error ?? '', /sbatch refused too-big: Memory specification can not be satisfied/);

    // The command line: eh submit from a project of its own, then eh jobs.
    const project = join(work, 'cli-project');
    mkdirSync(project);
    writeFileSync(join(project, 'hello.mjs'), "import { writeFileSync } from 'node:fs';\nwriteFileSync(process.env.EH_EXPERIMENT_DIR + '/hello.txt', process.argv[2]);\n");
    writeFileSync(join(project, 'sweep.yaml'), "base_config: {experimentName: cli, slurm: {mem: 200M, time: '00:05:00'}}\nscript: hello.mjs\nparameters: {model.width: [1, 2]}\nname: widths\n");
    const ehCli = (...args: string[]) => spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), EH[3], ...args], { cwd: project, env: c.env, encoding: 'utf8', timeout: 60_000 });
    const submitted = ehCli('submit', 'sweep.yaml', '--template', 'default', '--max-concurrent', '1');
    assert.equal(submitted.status, 0, submitted.stderr);
    assert.match(submitted.stdout, /submitted 2\/2 as job array \d+ \(%1\)/);

    await t.test('the batch: 3 tasks COMPLETED, never more than 2 running at once', async () => {
      const ids = batch.jobResults.map((r) => r.jobId!);
      assert.deepEqual(ids, [0, 1, 2].map((i) => `${batch.arrayJobId}_${i}`));
      let maxRunning = 0;
      const final = await waitFinal(launcher, ids, 150_000, (s) => {
        maxRunning = Math.max(maxRunning, [...s.values()].filter((j) => j.state === 'RUNNING').length);
      });
      for (const j of final.values()) assert.equal(j.state, 'COMPLETED', JSON.stringify(j));
      assert.ok(maxRunning >= 1 && maxRunning <= 2, `${maxRunning} tasks ran at once`);
      // From SLURM's own start and end times: at no moment were 3 tasks between start and end.
      const spans = [...final.values()].map((j) => [Date.parse(j.startTime!), Date.parse(j.endTime!)] as const);
      for (const [s] of spans) assert.ok(spans.filter(([a, b]) => a <= s && s < b).length <= 2, JSON.stringify([...final.values()]));
      for (const r of batch.jobResults) {
        assert.ok(existsSync(join(r.experimentDir, 'config.yaml')));
        assert.ok(existsSync(join(r.experimentDir, 'job.sbatch')));
        assert.match(readFileSync(join(r.experimentDir, `slurm_${r.jobId}.out`), 'utf8'), /done: 20 steps/);
      }
    });

    await t.test('early signal: emergency checkpoint, requeue of the job, resume from it, the same final weights', async () => {
      const id = signalled.jobId!;
      const final = await waitFinal(launcher, [id], 200_000);
      const log = readLog(signalled.experimentDir, id);
      assert.equal(final.get(id)!.state, 'COMPLETED', log);
      const at = /emergency checkpoint at step (\d+)/.exec(log);
      assert.ok(at !== null, log);
      assert.match(log, new RegExp(`requeued ${id}\\b`));
      assert.match(log, new RegExp(`resumed from step ${at[1]} \\(emergency checkpoint\\), restart 1`));
      assert.equal(finalHash(signalled.experimentDir), reference);
    });

    await t.test('eh jobs shows the states of what eh submit submitted', async () => {
      const end = Date.now() + 120_000;
      let rows: Array<{ experimentName: string; state: string; experimentDir: string }> = [];
      while (Date.now() < end) {
        const r = ehCli('jobs', '--json');
        assert.equal(r.status, 0, r.stderr);
        rows = JSON.parse(r.stdout) as typeof rows;
        if (rows.every((j) => j.state === 'COMPLETED')) break;
        await sleep(2000);
      }
      assert.deepEqual(rows.map((j) => [j.experimentName, j.state]), [['cli_width1', 'COMPLETED'], ['cli_width2', 'COMPLETED']]);
      for (const j of rows) assert.equal(readFileSync(join(j.experimentDir, 'hello.txt'), 'utf8'), join(j.experimentDir, 'config.yaml'));
      const table = ehCli('jobs');
      assert.match(table.stdout, /cli_width1\s+\d+_0\s+COMPLETED/);
    });

    await t.test('no scontrol in the job: a clear error, exit with the requeue code, RequeueExit requeues, resume', async () => {
      const id = fallback.jobId!;
      const final = await waitFinal(launcher, [id], 200_000);
      const log = readLog(fallback.experimentDir, id);
      assert.equal(final.get(id)!.state, 'COMPLETED', log);
      assert.match(log, /scontrol is not on PATH inside the job/);
      assert.match(log, new RegExp(`exiting with ${REQUEUE_EXIT_CODE}`));
      assert.match(log, /resumed from step \d+ \(emergency checkpoint\), restart 1/);
      assert.equal(finalHash(fallback.experimentDir), reference);
    });

    await t.test('killed at the time limit without the signal: TIMEOUT, requeued, resumes from the last regular checkpoint', async () => {
      const id = killed.jobId!;
      const first = await waitFinal(launcher, [id], 200_000);
      assert.equal(first.get(id)!.state, 'TIMEOUT', readLog(killed.experimentDir, id));
      assert.equal(finalHash(killed.experimentDir), undefined);
      await launcher.requeueJob(id);
      // Requeued: it leaves its final state, then runs to the end.
      const end = Date.now() + 60_000;
      while (FINAL_STATES.has((await launcher.getJobStatus([id])).get(id)!.state) && Date.now() < end) await sleep(300);
      const final = await waitFinal(launcher, [id], 90_000);
      const log = readLog(killed.experimentDir, id);
      assert.equal(final.get(id)!.state, 'COMPLETED', log);
      assert.doesNotMatch(log, /emergency/);
      const resumed = /resumed from step (\d+) \(regular checkpoint\), restart 1/.exec(log);
      assert.ok(resumed !== null, log);
      assert.equal(Number(resumed[1]) % 5, 0);
      assert.ok(Number(resumed[1]) > 0);
      assert.equal(finalHash(killed.experimentDir), reference);
    });
  });
});

import { existsSync, mkdirSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { stringify } from 'yaml';
import { ConfigurationError, describeError } from '../errors/index.js';
import { SLURMConfigSchema, validateExperimentConfig, type ExperimentConfig, type SLURMConfig } from '../experiments/index.js';
import { runCommand, sbatchMessage } from './commands.js';
import { JobSubmissionError, SLURMError } from './errors.js';
import { appendJobRecords } from './jobs-index.js';
import { exportCommit, snapshotBranchName, snapshotWorkingTree } from './git-snapshot.js';
import { JobState, SACCT_FORMAT, SQUEUE_FORMAT, parseSacct, parseScontrol, parseSqueue, type JobStatus } from './job-status.js';
import { REQUEUE_EXIT_CODE } from './requeue.js';
import { SBATCHTemplateEngine, shellQuote, type TemplateContext } from './template-engine.js';

export interface SLURMLauncherOptions {
  /** The SBATCH template (default: the built-in DEFAULT_TEMPLATE). */
  templatePath?: string;
  templateString?: string;
  projectRoot?: string;
  /** Default `<projectRoot>/experiments`. */
  experimentsDir?: string;
  /** How jobs call eh (default ["eh"]). */
  ehCommand?: string[];
  /** Environment for sbatch, squeue, ... (default process.env; SLURM_CONF and PATH come from here). */
  env?: NodeJS.ProcessEnv;
}

export interface SubmitSingleOptions {
  config: ExperimentConfig | Record<string, unknown>;
  /** The training script `eh run` starts (relative to the project root). */
  scriptPath: string;
  scriptArgs?: string[];
  /** Snapshot the working tree to branch eh/<experiment> and run the job from that snapshot. */
  useGitBranch?: boolean;
  /** Write the experiment directory and script, submit nothing. */
  dryRun?: boolean;
}

export interface SubmitBatchOptions {
  experiments: Array<ExperimentConfig | Record<string, unknown>>;
  scriptPath: string;
  scriptArgs?: string[];
  /** Tasks of the array running at once (`--array=0-N%maxConcurrent`); default all. */
  maxConcurrent?: number;
  useGitBranch?: boolean;
  dryRun?: boolean;
  /** The array's job name and batch directory name (default batch-<time>). */
  batchName?: string;
}

export interface SLURMJobResult {
  experimentName: string;
  success: boolean;
  /** `123`, or `123_4` for the task of an array; undefined in a dry run or on failure. */
  jobId?: string;
  experimentDir: string;
  scriptPath: string;
  configPath: string;
  gitBranch?: string;
  gitCommit?: string;
  dryRun: boolean;
  error?: string;
}

export interface BatchSubmissionResult {
  totalExperiments: number;
  successCount: number;
  failureCount: number;
  /** successCount / totalExperiments (1 for an empty batch). */
  successRate: number;
  /** The job array's id (undefined in a dry run or when sbatch failed). */
  arrayJobId?: string;
  arrayScriptPath?: string;
  jobResults: SLURMJobResult[];
  /** Per-experiment errors: experiment name -> message. */
  errors: Record<string, string>;
  dryRun: boolean;
}

interface Prepared {
  config: ExperimentConfig;
  dir: string;
  configPath: string;
  scriptPath: string;
  context: TemplateContext;
  gitBranch?: string;
  gitCommit?: string;
}

/** The slurm section, with its defaults when the experiment has none. */
function slurmOf(config: ExperimentConfig): SLURMConfig {
  return config.slurm ?? SLURMConfigSchema.parse({});
}

/** Fields of the slurm section that must be the same for all tasks of one array (they share one set of directives). */
const SHARED = ['account', 'partition', 'qos', 'nodes', 'ntasks_per_node', 'gpus_per_node', 'cpus_per_task', 'mem', 'time', 'signal', 'signal_time', 'requeue'] as const;

/**
 * Submits experiments to SLURM: each gets `<experimentsDir>/<name>/` with its config (config.yaml) and rendered
 * script (job.sbatch); a batch is one job array with `%maxConcurrent` throttling. Submitting returns as soon as
 * sbatch has answered; it never waits for jobs to run.
 */
export class SLURMLauncher {
  readonly projectRoot: string;
  readonly experimentsDir: string;
  readonly engine: SBATCHTemplateEngine;
  private readonly ehCommand: string[];
  private readonly env: NodeJS.ProcessEnv;

  constructor(options: SLURMLauncherOptions = {}) {
    this.projectRoot = resolve(options.projectRoot ?? '.');
    this.experimentsDir = resolve(this.projectRoot, options.experimentsDir ?? 'experiments');
    this.engine = new SBATCHTemplateEngine({ templatePath: options.templatePath !== undefined ? resolve(this.projectRoot, options.templatePath) : undefined, templateString: options.templateString });
    this.ehCommand = options.ehCommand ?? ['eh'];
    this.env = options.env ?? process.env;
  }

  private async prepare(raw: ExperimentConfig | Record<string, unknown>, scriptPath: string, scriptArgs: string[], useGitBranch: boolean, dryRun: boolean, outputFile?: string): Promise<Prepared> {
    const config = validateExperimentConfig(raw, { source: 'the experiment submitted' });
    const name = config.experimentName;
    const dir = join(this.experimentsDir, name);
    const rel = relative(this.experimentsDir, dir);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new ConfigurationError(`Experiment name ${JSON.stringify(name)} does not name a directory inside ${this.experimentsDir}`, { configKey: 'experimentName' });
    mkdirSync(dir, { recursive: true });
    const configPath = join(dir, 'config.yaml');
    writeFileSync(configPath, stringify(config));
    let codeDir = this.projectRoot;
    let gitBranch: string | undefined;
    let gitCommit: string | undefined;
    if (useGitBranch) {
      gitBranch = await snapshotBranchName(name, this.projectRoot);
      if (!dryRun) {
        const snap = await snapshotWorkingTree(this.projectRoot, gitBranch, `eh: snapshot of the working tree for experiment ${name}`);
        gitCommit = snap.commit;
        codeDir = join(dir, 'code');
        rmSync(codeDir, { recursive: true, force: true });
        mkdirSync(codeDir, { recursive: true });
        await exportCommit(this.projectRoot, snap.commit, codeDir);
        writeFileSync(join(dir, 'git-snapshot.json'), `${JSON.stringify(snap, null, 2)}\n`);
      }
    }
    const s = slurmOf(config);
    const context: TemplateContext = {
      jobName: name,
      account: s.account,
      partition: s.partition,
      qos: s.qos,
      nodes: s.nodes,
      ntasksPerNode: s.ntasks_per_node,
      gpusPerNode: s.gpus_per_node,
      cpusPerTask: s.cpus_per_task,
      mem: s.mem,
      time: s.time,
      experimentName: name,
      scriptPath,
      configName: configPath,
      outputFile: outputFile ?? join(dir, 'slurm_%j.out'),
      experimentDir: dir,
      codeDir,
      projectRoot: this.projectRoot,
      signal: s.signal,
      signalTime: s.signal_time,
      nprocPerNode: s.nproc_per_node,
      maxRestarts: s.max_restarts,
      gracePeriod: s.grace_period,
      ehCommand: this.ehCommand,
      scriptArgs,
      requeueExitCode: REQUEUE_EXIT_CODE,
    };
    const jobScript = this.engine.generateSbatchScript(context, join(dir, 'job.sbatch'));
    return { config, dir, configPath, scriptPath: jobScript, context, gitBranch, gitCommit };
  }

  private async sbatch(args: string[], experimentName: string): Promise<string> {
    const r = await runCommand('sbatch', ['--parsable', ...args], { env: this.env, cwd: this.projectRoot });
    if (r.code !== 0) {
      const msg = sbatchMessage(r.stderr);
      throw new JobSubmissionError(`sbatch refused ${experimentName}: ${msg}`, {
        command: `sbatch --parsable ${args.join(' ')}`,
        exitCode: r.code,
        stderr: r.stderr,
        sbatchMessage: msg,
        experimentName,
        suggestions: ['The message above is sbatch\'s own: check the account, partition and limits it names (sinfo, sacctmgr show assoc).'],
      });
    }
    const id = r.stdout.trim().split(';')[0];
    if (!/^\d+$/.test(id)) throw new JobSubmissionError(`sbatch answered ${JSON.stringify(r.stdout.trim())} instead of a job id`, { sbatchMessage: r.stdout.trim(), experimentName, command: 'sbatch --parsable' });
    return id;
  }

  /** Writes the experiment's directory and script and (unless dryRun) submits it as one job. */
  async submitSingleExperiment(options: SubmitSingleOptions): Promise<SLURMJobResult> {
    const dryRun = options.dryRun === true;
    const p = await this.prepare(options.config, options.scriptPath, options.scriptArgs ?? [], options.useGitBranch === true, dryRun);
    const base = { experimentName: p.config.experimentName, experimentDir: p.dir, scriptPath: p.scriptPath, configPath: p.configPath, gitBranch: p.gitBranch, gitCommit: p.gitCommit, dryRun };
    if (dryRun) return { ...base, success: true };
    try {
      const jobId = await this.sbatch([p.scriptPath], p.config.experimentName);
      appendJobRecords(this.experimentsDir, [{ experimentName: base.experimentName, jobId, experimentDir: p.dir, submittedAt: new Date().toISOString(), gitBranch: p.gitBranch, gitCommit: p.gitCommit }]);
      return { ...base, success: true, jobId };
    } catch (err) {
      if (err instanceof SLURMError && !(err instanceof JobSubmissionError)) throw err;
      return { ...base, success: false, error: describeError(err) };
    }
  }

  /**
   * Submits experiments as one job array, `--array=0-(N-1)%maxConcurrent`: task i runs experiment i's script
   * (SLURM applies the array script's directives to every task, so the experiments must share their slurm
   * resources). An experiment whose directory or script cannot be made is reported and left out of the array.
   */
  async submitExperimentBatch(options: SubmitBatchOptions): Promise<BatchSubmissionResult> {
    const dryRun = options.dryRun === true;
    const mc = options.maxConcurrent;
    if (mc !== undefined && !(Number.isSafeInteger(mc) && mc >= 1)) throw new ConfigurationError(`maxConcurrent must be an integer >= 1, got ${JSON.stringify(mc)}`, { configKey: 'maxConcurrent' });
    const batchName = options.batchName ?? `batch-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}`;
    const batchDir = join(this.experimentsDir, '_batches', batchName);
    const results: SLURMJobResult[] = [];
    const prepared: Prepared[] = [];
    const errors: Record<string, string> = {};
    for (const [i, raw] of options.experiments.entries()) {
      const name = typeof (raw as { experimentName?: unknown }).experimentName === 'string' ? String((raw as { experimentName: string }).experimentName) : `experiment #${i}`;
      try {
        prepared.push(await this.prepare(raw, options.scriptPath, options.scriptArgs ?? [], options.useGitBranch === true, dryRun, join(batchDir, 'slurm_%A_%a.out')));
      } catch (err) {
        errors[name] = describeError(err);
        results.push({ experimentName: name, success: false, experimentDir: join(this.experimentsDir, name), scriptPath: '', configPath: '', dryRun, error: describeError(err) });
      }
    }
    const finish = (arrayJobId?: string, arrayScriptPath?: string): BatchSubmissionResult => {
      const all = [...results];
      const successCount = all.filter((r) => r.success).length;
      return { totalExperiments: options.experiments.length, successCount, failureCount: options.experiments.length - successCount, successRate: options.experiments.length === 0 ? 1 : successCount / options.experiments.length, arrayJobId, arrayScriptPath, jobResults: all, errors, dryRun };
    };
    if (prepared.length === 0) return finish();
    const first = slurmOf(prepared[0].config);
    for (const p of prepared.slice(1)) {
      const s = slurmOf(p.config);
      const diff = SHARED.find((k) => s[k] !== first[k]);
      if (diff !== undefined) {
        throw new ConfigurationError(`Experiments ${prepared[0].config.experimentName} and ${p.config.experimentName} differ in slurm.${diff} (${JSON.stringify(first[diff])} vs ${JSON.stringify(s[diff])}), but the tasks of one job array share their resources`, {
          configKey: `slurm.${diff}`,
          suggestions: ['Submit experiments with different resources in separate batches (or as single experiments).'],
        });
      }
    }
    // The array script: the template's directives for the whole array, and a body that hands each task to its
    // experiment's own script (exec keeps the batch shell's pid, so the early signal reaches that script's trap).
    mkdirSync(batchDir, { recursive: true });
    const arrayContext: TemplateContext = { ...prepared[0].context, jobName: batchName, experimentName: batchName, outputFile: join(batchDir, 'slurm_%A_%a.out') };
    const header = this.engine
      .previewRenderedScript(arrayContext)
      .split('\n')
      .filter((l, i) => i === 0 || l.startsWith('#SBATCH'));
    const cases = prepared.map((p, i) => `  ${i}) exec /bin/bash ${shellQuote(p.scriptPath)} ;;`);
    const body = [
      '',
      `# Job array ${batchName}: task i runs experiment i's own script.`,
      'case "${SLURM_ARRAY_TASK_ID:-}" in',
      ...cases,
      '  *) echo "eh-slurm: no experiment for array task ${SLURM_ARRAY_TASK_ID:-?}" >&2; exit 2 ;;',
      'esac',
      '',
    ];
    const arrayScript = join(batchDir, 'array.sbatch');
    writeFileSync(arrayScript, [...header, ...body].join('\n'), { mode: 0o755 });
    writeFileSync(join(batchDir, 'experiments.json'), `${JSON.stringify(prepared.map((p, i) => ({ task: i, experimentName: p.config.experimentName, dir: p.dir })), null, 2)}\n`);
    const range = `0-${prepared.length - 1}${mc !== undefined ? `%${mc}` : ''}`;
    const base = (p: Prepared): SLURMJobResult => ({ experimentName: p.config.experimentName, success: true, experimentDir: p.dir, scriptPath: p.scriptPath, configPath: p.configPath, gitBranch: p.gitBranch, gitCommit: p.gitCommit, dryRun });
    if (dryRun) {
      results.push(...prepared.map(base));
      return finish(undefined, arrayScript);
    }
    let arrayJobId: string;
    try {
      arrayJobId = await this.sbatch([`--array=${range}`, arrayScript], batchName);
    } catch (err) {
      if (err instanceof SLURMError && !(err instanceof JobSubmissionError)) throw err;
      for (const p of prepared) {
        errors[p.config.experimentName] = describeError(err);
        results.push({ ...base(p), success: false, error: describeError(err) });
      }
      return finish(undefined, arrayScript);
    }
    prepared.forEach((p, i) => {
      const log = join(p.dir, `slurm_${arrayJobId}_${i}.out`);
      // The task's log lives with the array; a link puts it in the experiment's directory too.
      if (!existsSync(log)) symlinkSync(join(batchDir, `slurm_${arrayJobId}_${i}.out`), log);
      results.push({ ...base(p), jobId: `${arrayJobId}_${i}` });
    });
    const at = new Date().toISOString();
    appendJobRecords(this.experimentsDir, prepared.map((p, i) => ({ experimentName: p.config.experimentName, jobId: `${arrayJobId}_${i}`, arrayJobId, batchName, experimentDir: p.dir, submittedAt: at, gitBranch: p.gitBranch, gitCommit: p.gitCommit })));
    return finish(arrayJobId, arrayScript);
  }

  /**
   * The states of jobs (`123` or `123_4`): squeue first (every array task on its own line), then scontrol for
   * any it no longer lists, then sacct where it exists (slurmdbd); UNKNOWN when none knows the job.
   */
  async getJobStatus(jobIds: readonly string[]): Promise<Map<string, JobStatus>> {
    const out = new Map<string, JobStatus>();
    if (jobIds.length === 0) return out;
    for (const id of jobIds) if (!/^\d+(_\d+)?$/.test(id)) throw new ConfigurationError(`${JSON.stringify(id)} is not a job id`, { suggestions: ['Job ids are numbers, or ARRAYID_TASK for a task of an array.'] });
    const arrays = [...new Set(jobIds.map((id) => id.split('_')[0]))];
    const q = await runCommand('squeue', ['-h', '-r', '-t', 'all', '-j', arrays.join(','), '-o', SQUEUE_FORMAT], { env: this.env });
    // squeue exits 1 ("Invalid job id specified") once a job is gone from slurmctld; that is not an error here.
    for (const s of q.code === 0 ? parseSqueue(q.stdout) : []) if (jobIds.includes(s.jobId)) out.set(s.jobId, s);
    for (const id of jobIds.filter((i) => !out.has(i))) {
      const r = await runCommand('scontrol', ['show', 'job', id], { env: this.env });
      const rec = r.code === 0 ? parseScontrol(r.stdout).find((s) => s.jobId === id || (!id.includes('_') && s.jobId.split('_')[0] === id)) : undefined;
      if (rec !== undefined) out.set(id, { ...rec, jobId: id });
    }
    const missing = jobIds.filter((i) => !out.has(i));
    if (missing.length > 0) {
      const a = await runCommand('sacct', ['-n', '-P', '-X', '-j', missing.join(','), '-o', SACCT_FORMAT], { env: this.env }).catch(() => undefined);
      for (const s of a !== undefined && a.code === 0 ? parseSacct(a.stdout) : []) if (missing.includes(s.jobId)) out.set(s.jobId, s);
    }
    for (const id of jobIds) if (!out.has(id)) out.set(id, { jobId: id, state: JobState.UNKNOWN, source: 'none' });
    return out;
  }

  /**
   * Requeues a job or one array task (`123_4`: that task only). A job that ended (TIMEOUT after a time-limit
   * kill without the early signal, FAILED, ...) runs again and resumes from its last checkpoint.
   */
  async requeueJob(jobId: string): Promise<void> {
    if (!/^\d+(_\d+)?$/.test(jobId)) throw new ConfigurationError(`${JSON.stringify(jobId)} is not a job id`);
    const r = await runCommand('scontrol', ['requeue', jobId], { env: this.env });
    if (r.code !== 0) throw new SLURMError(`scontrol requeue ${jobId} failed: ${r.stderr.trim()}`, { command: `scontrol requeue ${jobId}`, exitCode: r.code, stderr: r.stderr, suggestions: ['Only batch jobs submitted with --requeue (the default template has it) can be requeued.'] });
  }

  async cancelJob(jobId: string): Promise<void> {
    if (!/^\d+(_\d+)?$/.test(jobId)) throw new ConfigurationError(`${JSON.stringify(jobId)} is not a job id`);
    const r = await runCommand('scancel', [jobId], { env: this.env });
    if (r.code !== 0) throw new SLURMError(`scancel ${jobId} failed: ${r.stderr.trim()}`, { command: `scancel ${jobId}`, exitCode: r.code, stderr: r.stderr });
  }
}

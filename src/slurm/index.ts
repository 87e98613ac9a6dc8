/**
 * elastic-harness/slurm: SBATCH templates (validated, injection-safe), a launcher for single experiments and job
 * arrays (per-experiment directories, git snapshots, requeue on the time-limit signal), and job states.
 */
export { SLURMError, JobSubmissionError, TemplateError, type SLURMErrorOptions, type TemplateErrorOptions } from './errors.js';
export { REQUEUE_EXIT_CODE } from './requeue.js';
export { DEFAULT_TEMPLATE } from './default-template.js';
export { SBATCHTemplateEngine, TEMPLATE_VARIABLES, REQUIRED_DIRECTIVES, shellQuote, type TemplateContext, type TemplateValidation, type SBATCHTemplateEngineOptions } from './template-engine.js';
export { JobState, FINAL_STATES, parseJobState, parseSqueue, parseScontrol, parseSacct, SQUEUE_FORMAT, SACCT_FORMAT, type JobStatus } from './job-status.js';
export { snapshotWorkingTree, snapshotBranchName, exportCommit, type GitSnapshot } from './git-snapshot.js';
export { SLURMLauncher, type SLURMLauncherOptions, type SubmitSingleOptions, type SubmitBatchOptions, type SLURMJobResult, type BatchSubmissionResult } from './launcher.js';
export { readJobRecords, appendJobRecords, JOBS_INDEX, type JobRecord } from './jobs-index.js';

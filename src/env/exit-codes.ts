/**
 * The exit code that means "stopped early on purpose, run me again": EX_TEMPFAIL of sysexits.h.
 * A worker exits with it after its emergency checkpoint on preemption (the GenericTrainer does); `eh run`
 * then ends with it too, without counting a failure, so that the scheduler above it (a SLURM job script,
 * `RequeueExit=75` in slurm.conf, a requeue wrapper) requeues the job. It lives here, below every part,
 * because the trainer that exits with it and the agent that reads it must agree on one number.
 */
export const REQUEUE_EXIT_CODE = 75;

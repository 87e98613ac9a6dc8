/**
 * The exit code that means "run me again" (EX_TEMPFAIL, defined once in src/env): a job script exits with it when
 * it was told to stop early (the time-limit signal) but could not requeue itself with scontrol; a cluster with
 * `RequeueExit=75` in slurm.conf then requeues it. Training scripts and `eh run` exit with it after an emergency checkpoint.
 */
export { REQUEUE_EXIT_CODE } from '../env/index.js';

/**
 * The exit code that means "run me again": EX_TEMPFAIL of sysexits.h. A job script exits with it when it was told
 * to stop early (the time-limit signal) but could not requeue itself with scontrol; a cluster with
 * `RequeueExit=75` in slurm.conf then requeues it. Training scripts exit with it after their emergency checkpoint.
 */
export const REQUEUE_EXIT_CODE = 75;

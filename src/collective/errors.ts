import { DistributedSetupError, type DistributedSetupErrorOptions } from '../errors/index.js';

/**
 * Base of the collective's failures. A process group that raised one of these is broken for good:
 * every later call rejects with the same error, and the agent restarts the group.
 */
export class CollectiveError extends DistributedSetupError {
  /** The rank that detected the failure (this rank, or the peer that told us). */
  readonly reportedBy: number | undefined;

  constructor(message: string, options: DistributedSetupErrorOptions & { reportedBy?: number } = {}) {
    super(message, options);
    this.reportedBy = options.reportedBy;
  }
}

/** A peer died or closed its connections while the group was in use. */
export class PeerLostError extends CollectiveError {
  readonly lostRank: number;

  constructor(lostRank: number, message: string, options: DistributedSetupErrorOptions & { reportedBy?: number } = {}) {
    super(message, {
      ...options,
      suggestions: options.suggestions ?? [
        `Check rank ${String(lostRank)}'s log for why it stopped; under \`eh run\` the agent restarts the group from the last checkpoint.`,
      ],
    });
    this.lostRank = lostRank;
  }
}

/** A collective did not complete within its timeout. */
export class CollectiveTimeoutError extends CollectiveError {
  /** Ranks this one was still waiting for. */
  readonly waitingFor: number[];

  constructor(message: string, waitingFor: number[], options: DistributedSetupErrorOptions & { reportedBy?: number } = {}) {
    super(message, {
      ...options,
      suggestions: options.suggestions ?? [
        'Every rank must call the same collectives in the same order; check that the ranks named here reached this call (a hang, a crash, an extra or missing call).',
        'Raise the timeout only if those ranks are merely slow (e.g. a long first step).',
      ],
    });
    this.waitingFor = waitingFor;
  }
}

/** Ranks called different collectives (op, size, dtype, root or call order). */
export class CollectiveMismatchError extends CollectiveError {
  constructor(message: string, options: DistributedSetupErrorOptions & { reportedBy?: number } = {}) {
    super(message, {
      ...options,
      suggestions: options.suggestions ?? [
        'Every rank must make the same sequence of collective calls with the same op, dtype, element count and root; look for a branch that depends on the rank.',
      ],
    });
  }
}

/** The group was closed by cleanupDistributed() or destroy(), or a peer sent an abort for another reason. */
export class CollectiveAbortedError extends CollectiveError {}

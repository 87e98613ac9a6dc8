import { DistributedSetupError, type DistributedSetupErrorOptions } from '../errors/index.js';

/**
 * `Store.wait` ran out of time. A subclass of DistributedSetupError so callers that only care about
 * "the world could not be set up" need not know it, while the rendezvous loop can tell a quiet period
 * (expected, it re-checks) from a lost store (fatal).
 */
export class StoreTimeoutError extends DistributedSetupError {
  readonly missingKeys: string[];

  constructor(message: string, missingKeys: string[], options: DistributedSetupErrorOptions = {}) {
    super(message, options);
    this.missingKeys = missingKeys;
  }
}

/**
 * The store could not be reached, or stopped answering: a network outage, a frozen or restarting etcd,
 * a lost connection to the agent hosting the TCP store. Transient by nature, so callers that can wait
 * (the agent, for up to its keep-alive window and beyond) retry it, where a refusal or bad data is final.
 */
export class StoreUnavailableError extends DistributedSetupError {}

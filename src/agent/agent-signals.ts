/**
 * The stop signals an agent forwards (SIGTERM, SIGINT, SIGUSR1, SIGUSR2), and the waits they cut short:
 * every wait of the agent goes through `interruptible()`, so that a signal ends it at once, whatever the
 * agent was waiting for (the store, the rendezvous, the master address).
 */
import os from 'node:os';
import { DistributedSetupError } from '../errors/index.js';

export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGUSR1', 'SIGUSR2'];

/** The exit status of a process ended by `signal`: 128 + its number, as a shell reports it. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 15);
}

/** The error an interrupted wait rejects with. */
export class InterruptedError extends DistributedSetupError {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`, { suggestions: ['The agent was asked to stop; nothing to fix.'] });
  }
}

export class AgentSignals {
  /** The first stop signal received, if any. */
  signalled: NodeJS.Signals | undefined;
  private readonly listeners = new Set<(s: NodeJS.Signals) => void>();
  private readonly handlers = new Map<NodeJS.Signals, () => void>();

  /** Called on a second signal: no more grace. */
  constructor(private readonly onSecond: () => void = () => undefined) {}

  install(): void {
    for (const sig of FORWARDED_SIGNALS) {
      const h = (): void => this.raise(sig);
      this.handlers.set(sig, h);
      process.on(sig, h);
    }
  }

  remove(): void {
    for (const [sig, h] of this.handlers) process.off(sig, h);
    this.handlers.clear();
  }

  /** What a received signal does (also callable directly, e.g. by an embedding program). */
  raise(sig: NodeJS.Signals): void {
    if (this.signalled !== undefined) {
      this.onSecond();
      return;
    }
    this.signalled = sig;
    for (const l of [...this.listeners]) l(sig);
  }

  /** Call `cb` once, on the first stop signal (at once if it already came). Returns the unsubscribe. */
  onStop(cb: (s: NodeJS.Signals) => void): () => void {
    if (this.signalled !== undefined) {
      cb(this.signalled);
      return () => undefined;
    }
    const once = (s: NodeJS.Signals): void => {
      this.listeners.delete(once);
      cb(s);
    };
    this.listeners.add(once);
    return () => this.listeners.delete(once);
  }

  /**
   * Resolve with `p`, or reject with InterruptedError as soon as a stop signal arrives. `abort` is called
   * then, so that the work behind `p` (a connect loop, a store wait) stops too instead of running on.
   */
  interruptible<T>(p: Promise<T>, abort?: () => void): Promise<T> {
    return new Promise<T>((res, rej) => {
      const off = this.onStop((sig) => {
        abort?.();
        rej(new InterruptedError(sig));
      });
      p.then(res, rej).finally(off);
    });
  }
}

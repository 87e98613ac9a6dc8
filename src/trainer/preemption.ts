import { ValidationError } from '../errors/index.js';
import { constants } from 'node:os';

/**
 * Watches for preemption: the configured signal (SIGUSR1 by default: what SLURM's `--signal=B:USR1@N` sends)
 * and SIGTERM (what a scheduler or `eh run` sends before SIGKILL). The trainer polls `requested` between
 * steps, so the step under way finishes; every rank learns of it through the next gradient allreduce, so all
 * stop after the same step even when the signal reaches them at different moments.
 */
export class PreemptionHandler {
  private received: NodeJS.Signals | undefined;
  private readonly handlers = new Map<NodeJS.Signals, () => void>();

  constructor(signal: string = 'SIGUSR1', private readonly onSecondSignal?: (signal: NodeJS.Signals) => void) {
    if (!(signal in constants.signals) || signal === 'SIGKILL' || signal === 'SIGSTOP') {
      throw new ValidationError(`faultTolerance.preemptionSignal ${signal} is not a signal a process can catch`, { configKey: 'faultTolerance.preemptionSignal', suggestions: ['Use SIGUSR1 (default), SIGUSR2 or SIGTERM.'] });
    }
    const signals = new Set<NodeJS.Signals>([signal as NodeJS.Signals, 'SIGTERM']);
    for (const s of signals) {
      const h = (): void => {
        if (this.received !== undefined) {
          this.onSecondSignal?.(s);
          return;
        }
        this.received = s;
      };
      this.handlers.set(s, h);
      process.on(s, h);
    }
  }

  get requested(): boolean {
    return this.received !== undefined;
  }

  get signal(): NodeJS.Signals | undefined {
    return this.received;
  }

  /** Treat as preempted without a signal (the other ranks asked for it through the allreduce). */
  request(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.received ??= signal;
  }

  dispose(): void {
    for (const [s, h] of this.handlers) process.off(s, h);
    this.handlers.clear();
  }
}

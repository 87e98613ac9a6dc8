import { TrainerError, describeError } from '../errors/index.js';

/**
 * Callbacks around training. Every method is optional; the trainer passes itself first. A hook may be async.
 * The trainer type is a parameter so that this file does not depend on the trainer's.
 */
export interface TrainerHooks<T = unknown> {
  onTrainStart?(trainer: T): void | Promise<void>;
  onTrainEnd?(trainer: T): void | Promise<void>;
  onEpochStart?(trainer: T, epoch: number): void | Promise<void>;
  onEpochEnd?(trainer: T, epoch: number, metrics: Readonly<Record<string, number>>): void | Promise<void>;
  onStepStart?(trainer: T, step: number): void | Promise<void>;
  onStepEnd?(trainer: T, step: number, metrics: Readonly<Record<string, number>>): void | Promise<void>;
  onValidationStart?(trainer: T, epoch: number): void | Promise<void>;
  onValidationEnd?(trainer: T, epoch: number, metrics: Readonly<Record<string, number>>): void | Promise<void>;
  onCheckpointSave?(trainer: T, path: string, info: { step: number; epoch: number; emergency: boolean }): void | Promise<void>;
  onCheckpointLoad?(trainer: T, path: string, info: { step: number; epoch: number; tier: string | null }): void | Promise<void>;
  onException?(trainer: T, error: unknown): void | Promise<void>;
}

export type HookName = keyof TrainerHooks;

type HookArgs<T, K extends HookName> = NonNullable<TrainerHooks<T>[K]> extends (trainer: T, ...rest: infer A) => unknown ? A : never;

/** The registered hooks, called in registration order. */
export class HookManager<T = unknown> {
  private readonly hooks: TrainerHooks<T>[] = [];

  constructor(private readonly options: { continueOnError?: boolean; warn?: (message: string) => void } = {}) {}

  registerHook(hook: TrainerHooks<T>): void {
    this.hooks.push(hook);
  }

  unregisterHook(hook: TrainerHooks<T>): boolean {
    const i = this.hooks.indexOf(hook);
    if (i >= 0) this.hooks.splice(i, 1);
    return i >= 0;
  }

  get count(): number {
    return this.hooks.length;
  }

  /**
   * Calls `name` on every hook. A hook that throws becomes a TrainerError naming the hook (its class and the
   * method); with `continueOnError` it is reported and the others still run.
   */
  async call<K extends HookName>(name: K, trainer: T, ...args: HookArgs<T, K>): Promise<void> {
    for (const hook of this.hooks) {
      const fn = hook[name] as ((t: T, ...a: HookArgs<T, K>) => void | Promise<void>) | undefined;
      if (typeof fn !== 'function') continue;
      try {
        await fn.call(hook, trainer, ...args);
      } catch (err) {
        const owner = (hook as object).constructor?.name;
        const label = owner !== undefined && owner !== 'Object' ? `${owner}.${name}` : name;
        const e = new TrainerError(`hook ${label} threw: ${describeError(err)}`, { phase: label, cause: err, suggestions: [`Fix ${label}, or set hooks.continueOnHookError to log hook failures and go on.`] });
        if (this.options.continueOnError === true && name !== 'onException') {
          (this.options.warn ?? ((m: string) => process.stderr.write(`[eh trainer] ${m}\n`)))(e.problem);
          continue;
        }
        throw e;
      }
    }
  }
}

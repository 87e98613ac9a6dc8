/** Options shared by every error of the hierarchy. */
export interface ElasticErrorOptions {
  /** What the user should do next; each entry is printed as a bullet under the message. */
  suggestions?: string[];
  /** The error this one wraps (exposed as the standard `cause`). */
  cause?: unknown;
}

/**
 * Base of the hierarchy. `message` holds the full, printable text: what went wrong, then what to do,
 * so that a bare `console.error(err.message)` is already actionable.
 */
export class ElasticTrainingError extends Error {
  /** The problem alone, without the suggestions appended. */
  readonly problem: string;
  readonly suggestions: string[];

  constructor(message: string, options: ElasticErrorOptions = {}) {
    const suggestions = options.suggestions ?? [];
    super(formatMessage(message, suggestions), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.problem = message;
    this.suggestions = suggestions;
  }

  /** The wrapped error, named as in the reference (`original_error`). */
  get originalError(): unknown {
    return this.cause;
  }

  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { name: this.name, message: this.problem, suggestions: this.suggestions };
    for (const [k, v] of Object.entries(this)) {
      if (k !== 'problem' && k !== 'suggestions' && v !== undefined) out[k] = v;
    }
    if (this.cause !== undefined) out.cause = this.cause instanceof Error ? this.cause.message : String(this.cause);
    return out;
  }
}

export function formatMessage(message: string, suggestions: readonly string[]): string {
  if (suggestions.length === 0) return message;
  return `${message}\n${suggestions.map((s) => `  -> ${s}`).join('\n')}`;
}

/** A short description of anything thrown, for wrapping foreign errors into ours. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

import { ConfigurationError, type ConfigurationErrorOptions } from '../errors/index.js';

export interface ValidationErrorOptions extends ConfigurationErrorOptions {
  /** The file the config came from, when it came from one. */
  file?: string;
  /** What the key should hold, e.g. `an integer >= 1`. */
  expected?: string;
}

/**
 * An experiment config (or a grid) that was read but does not have the right shape: names the file, the key path,
 * what was expected and what to do. A subclass of ConfigurationError, so callers catching that one catch this too.
 */
export class ValidationError extends ConfigurationError {
  readonly file?: string;
  readonly expected?: string;

  constructor(message: string, options: ValidationErrorOptions = {}) {
    super(message, options);
    this.file = options.file;
    this.expected = options.expected;
  }
}

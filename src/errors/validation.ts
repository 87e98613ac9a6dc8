import { ConfigurationError, type ConfigurationErrorOptions } from './configuration.js';

export interface ValidationErrorOptions extends ConfigurationErrorOptions {
  /** The file the config came from, when it came from one. */
  file?: string;
  /** What the key should hold, e.g. `an integer >= 1`. */
  expected?: string;
}

/**
 * A configuration whose shape or values fail its schema (the reference's `config.ValidationError`): a
 * ConfigurationError, so one `catch (e instanceof ConfigurationError)` takes both. Names the file (when
 * the config came from one), the key path, what was expected and what to do.
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

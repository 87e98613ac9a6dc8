import { ConfigurationError, type ConfigurationErrorOptions } from './configuration.js';

/**
 * A configuration whose shape or values fail its schema (the reference's `config.ValidationError`): a
 * ConfigurationError, so one `catch (e instanceof ConfigurationError)` takes both.
 */
export class ValidationError extends ConfigurationError {
  constructor(message: string, options: ConfigurationErrorOptions = {}) {
    super(message, options);
  }
}

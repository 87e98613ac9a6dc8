import { ElasticTrainingError, type ElasticErrorOptions } from './base.js';

export interface ConfigurationErrorOptions extends ElasticErrorOptions {
  /** Dotted path of the offending key, e.g. `scaling.strategy`. */
  configKey?: string;
}

/** A configuration value or argument is wrong. */
export class ConfigurationError extends ElasticTrainingError {
  readonly configKey?: string;

  constructor(message: string, options: ConfigurationErrorOptions = {}) {
    // Every error says what to do: when the caller gave no advice, the generic one still points at the key.
    const given = options.suggestions ?? [];
    const suggestions = given.length > 0 ? given : [options.configKey !== undefined ? `Correct ${options.configKey} as described above and retry.` : 'Correct the value described above and retry.'];
    const withKey = options.configKey !== undefined && !message.includes(options.configKey) ? `${message} (key: ${options.configKey})` : message;
    super(withKey, { ...options, suggestions });
    this.configKey = options.configKey;
  }
}

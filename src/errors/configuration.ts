import { ElasticTrainingError, type ElasticErrorOptions } from './base.js';

export interface ConfigurationErrorOptions extends ElasticErrorOptions {
  /** Dotted path of the offending key, e.g. `scaling.strategy`. */
  configKey?: string;
}

/** A configuration value or argument is wrong. */
export class ConfigurationError extends ElasticTrainingError {
  readonly configKey?: string;

  constructor(message: string, options: ConfigurationErrorOptions = {}) {
    const suggestions = options.suggestions ?? [];
    const withKey = options.configKey !== undefined && !message.includes(options.configKey) ? `${message} (key: ${options.configKey})` : message;
    super(withKey, { ...options, suggestions });
    this.configKey = options.configKey;
  }
}

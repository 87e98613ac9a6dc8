import { ConfigurationError } from '../errors/index.js';

export interface ConfigIssue {
  severity: 'error' | 'warning';
  /** Dotted key path, e.g. `training.gradient_clipping.max_norm` ('' for the whole document). */
  path: string;
  message: string;
}

/** The reference's ValidationResult: valid when there is no error; warnings never make a config invalid. */
export interface ValidationResult {
  valid: boolean;
  errors: string[];
  warnings: string[];
  /** The same problems with their key paths, for tools. */
  issues: ConfigIssue[];
}

export function resultOf(issues: ConfigIssue[]): ValidationResult {
  const errors = issues.filter((i) => i.severity === 'error').map((i) => i.message);
  return { valid: errors.length === 0, errors, warnings: issues.filter((i) => i.severity === 'warning').map((i) => i.message), issues };
}

/** One ConfigurationError listing every error of a failed validation (for callers who prefer to throw). */
export function toConfigurationError(result: ValidationResult, options: { source?: string } = {}): ConfigurationError {
  const errs = result.issues.filter((i) => i.severity === 'error');
  const where = options.source !== undefined ? ` in ${options.source}` : '';
  const list = errs.length > 0 ? errs.map((i) => i.message) : result.errors;
  const message = list.length === 1 ? `Invalid configuration${where}: ${list[0]}` : `Invalid configuration${where} (${list.length} errors):\n${list.map((m) => `  - ${m}`).join('\n')}`;
  return new ConfigurationError(message, {
    configKey: errs[0]?.path || undefined,
    suggestions: ['Fix the keys named above; docs/api/config.md lists every key, its type and its default.'],
  });
}

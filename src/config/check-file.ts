import { resolve } from 'node:path';
import { loadConfigFile, type LoadConfigFileOptions } from './load.js';
import { validateConfig, type ValidateConfigOptions } from './validate-config.js';
import type { ConfigValidationResult } from './validate.js';

export interface CheckConfigFileOptions extends ValidateConfigOptions, LoadConfigFileOptions {}

/**
 * The one path from a config file to its verdict, taken by `eh config validate FILE` and `eh run --config FILE`
 * alike, so both report the same errors for the same file. Throws ConfigurationError when the file cannot be read
 * or parsed; every problem of its content is in the result.
 */
export async function checkConfigFile(path: string, options: CheckConfigFileOptions = {}): Promise<ConfigValidationResult & { path: string }> {
  const file = resolve(path);
  const raw = await loadConfigFile(file, options);
  return { ...(await validateConfig(raw, options)), path: file };
}

/** The result as printed by the CLI: `error: ...` lines, then `warning: ...` lines. */
export function issueLines(result: ConfigValidationResult): string[] {
  return [...result.errors.map((e) => `error: ${e}`), ...result.warnings.map((w) => `warning: ${w}`)];
}

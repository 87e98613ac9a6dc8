import type { Command } from 'commander';
import { checkConfigFile, issueLines } from '../config/index.js';
import { ElasticTrainingError } from '../errors/index.js';

/**
 * `eh config validate FILE`: check a training config file before a long job finds the mistake for you.
 * Exit 0 when valid (warnings are printed), 1 when it has errors, 2 when it cannot be read.
 * `eh run --config FILE` takes the same path (checkConfigFile), so both report the same errors.
 */
export function registerConfigCommand(program: Command): void {
  const config = program.command('config').description('training config files (YAML or JSON)');
  config
    .command('validate')
    .argument('<file>', 'the config file')
    .option('--s3', 'also check that the checkpoint S3 bucket is reachable (a HeadBucket call)')
    .description('validate a training config file: types, ranges, rules across keys, unknown keys')
    .action(async (file: string, opts: { s3?: boolean }) => {
      let result;
      try {
        result = await checkConfigFile(file, { validateS3: opts.s3 === true });
      } catch (err) {
        process.stderr.write(`eh config validate: ${err instanceof ElasticTrainingError ? err.message : String(err)}\n`);
        process.exitCode = 2;
        return;
      }
      for (const line of issueLines(result)) process.stdout.write(`${line}\n`);
      process.stdout.write(result.valid ? `${file}: valid (${result.warnings.length} warning(s))\n` : `${file}: ${result.errors.length} error(s), ${result.warnings.length} warning(s)\n`);
      process.exitCode = result.valid ? 0 : 1;
    });
}

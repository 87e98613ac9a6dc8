import { Command } from 'commander';
import { packageVersion } from './version.js';
import { registerRunCommand } from './run.js';
import { registerConfigCommand } from './config.js';
import { registerSweepCommand } from './sweep.js';
import { registerSubmitCommand } from './submit.js';
import { registerJobsCommand } from './jobs.js';
import { registerMonitorCommands } from './monitor.js';

/** The `eh` command. Each subcommand lives in its own file and registers itself here. */
export function buildProgram(): Command {
  const program = new Command('eh')
    .description('elastic-harness: elastic, fault-tolerant distributed training for Node.js')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError('(add --help for usage)')
    .showSuggestionAfterError();
  registerRunCommand(program);
  registerConfigCommand(program);
  registerSweepCommand(program);
  registerSubmitCommand(program);
  registerJobsCommand(program);
  registerMonitorCommands(program);
  return program;
}

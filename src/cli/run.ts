/**
 * `eh run [options] SCRIPT [ARGS...]`: torchrun's counterpart. Options keep torchrun's names (dashes or
 * underscores) and meanings; see docs/api/agent.md.
 */
import os from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import { ElasticAgent, ElasticTrainingConfig, elasticOptionsFromSection, parseNnodes, parseRdzvConf, type AgentMonitorOptions, type ElasticTrainingConfigOptions } from '../agent/index.js';
import { checkConfigFile, ELASTIC_DEFAULTS as D, issueLines, LAUNCHER_ONLY_DEFAULTS as L, type ElasticSection } from '../config/index.js';
import { ConfigurationError, describeError } from '../errors/index.js';
import { normalizeRunArgv } from './run-argv.js';

/** Flags left out are undefined (commander is given no defaults): the default is ElasticTrainingConfig's, from src/config/defaults.ts. */
interface RunOpts {
  config?: string;
  nnodes?: string;
  nprocPerNode?: string;
  nodeRank?: string;
  rdzvBackend?: string;
  rdzvEndpoint?: string;
  rdzvId?: string;
  rdzvConf?: string;
  standalone?: boolean;
  maxRestarts?: string;
  monitorInterval?: string;
  heartbeatInterval?: string;
  heartbeatTimeout?: string;
  gracePeriod?: string;
  logDir?: string;
  tee?: string;
  redirects?: string;
  role?: string;
  node: boolean;
  /** `--python PATH` (a string), `--no-python` (false), or neither (undefined). */
  python?: string | false;
  preload?: string;
  standbyWorkers?: string;
  retryStartupFailures?: boolean;
  localAddr?: string;
  memoryLimit?: string;
  metricsPort?: string;
  dashboardPort?: string;
  monitorHost: string;
}

/** Parses only its own options (dashed or underscored); everything from the script on belongs to the script. */
class RunCommand extends Command {
  override parseOptions(argv: string[]): ReturnType<Command['parseOptions']> {
    const withValue = new Set(this.options.filter((o) => o.required || o.optional).map((o) => o.long ?? ''));
    return super.parseOptions(normalizeRunArgv(argv, (name) => withValue.has(name)));
  }
}

function num(value: string, option: string, integer: boolean): number;
function num(value: string | undefined, option: string, integer: boolean): number | undefined;
function num(value: string | undefined, option: string, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new ConfigurationError(`${option} takes ${integer ? 'a whole number' : 'a number'}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * The launcher's settings: the config file's `elastic` section when one is given, overridden by every flag given.
 */
export function configFromOptions(o: RunOpts, fromFile?: ElasticSection): ElasticTrainingConfig {
  const { minNodes, maxNodes } = o.nnodes === undefined ? { minNodes: undefined, maxNodes: undefined } : parseNnodes(o.nnodes);
  const nproc = o.nprocPerNode === 'auto' || o.nprocPerNode === 'cpu' ? os.availableParallelism() : num(o.nprocPerNode, '--nproc-per-node', true);
  const flags: ElasticTrainingConfigOptions = {
    minNodes,
    maxNodes,
    nprocPerNode: nproc,
    rdzvBackend: o.rdzvBackend as ElasticTrainingConfigOptions['rdzvBackend'],
    rdzvEndpoint: o.rdzvEndpoint,
    rdzvId: o.rdzvId,
    rdzvConf: o.rdzvConf === undefined ? undefined : parseRdzvConf(o.rdzvConf),
    standalone: o.standalone,
    nodeRank: o.nodeRank === undefined ? undefined : num(o.nodeRank, '--node-rank', true),
    maxRestarts: num(o.maxRestarts, '--max-restarts', true),
    monitorInterval: num(o.monitorInterval, '--monitor-interval', false),
    heartbeatInterval: o.heartbeatInterval === undefined ? undefined : num(o.heartbeatInterval, '--heartbeat-interval', false),
    heartbeatTimeout: num(o.heartbeatTimeout, '--heartbeat-timeout', false),
    gracePeriod: num(o.gracePeriod, '--grace-period', false),
    logDir: o.logDir,
    tee: o.tee,
    redirects: o.redirects,
    role: o.role,
    noNode: !o.node || o.python === false ? true : undefined,
    python: typeof o.python === 'string' ? o.python : undefined,
    preload: o.preload === undefined ? undefined : o.preload.split(',').map((s) => s.trim()).filter((s) => s !== ''),
    standbyWorkers: o.standbyWorkers === undefined ? undefined : num(o.standbyWorkers, '--standby-workers', true),
    retryStartupFailures: o.retryStartupFailures,
    localAddr: o.localAddr,
    memoryLimitMb: o.memoryLimit === undefined ? undefined : num(o.memoryLimit, '--memory-limit', false),
  };
  if (fromFile === undefined) return new ElasticTrainingConfig(flags);
  const file = elasticOptionsFromSection(fromFile);
  const given = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) as ElasticTrainingConfigOptions;
  return new ElasticTrainingConfig({ ...file, ...given, rdzvConf: { ...file.rdzvConf, ...given.rdzvConf } });
}

/** `eh run --config FILE`: the file checked as `eh config validate` checks it; its elastic section, or null after printing why not. */
async function elasticSectionOf(path: string): Promise<ElasticSection | null> {
  try {
    const result = await checkConfigFile(path);
    for (const line of issueLines(result)) process.stderr.write(`eh run: ${path}: ${line}\n`);
    if (!result.valid || result.config === undefined) {
      process.stderr.write(`eh run: ${path}: ${result.errors.length} error(s); fix them (eh config validate ${path} lists the same)\n`);
      return null;
    }
    return result.config.elastic;
  } catch (err) {
    process.stderr.write(`eh run: ${describeError(err)}\n`);
    return null;
  }
}

export function monitorFromOptions(o: RunOpts): AgentMonitorOptions {
  const port = (v: string | undefined, option: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = num(v, option, true);
    if (n < 0 || n > 65535) throw new ConfigurationError(`${option} takes a port 0-65535, got ${v}`, { configKey: option.slice(2) });
    return n;
  };
  return { metricsPort: port(o.metricsPort, '--metrics-port'), dashboardPort: port(o.dashboardPort, '--dashboard-port'), host: o.monitorHost };
}

export function buildRunCommand(): Command {
  const cmd = new RunCommand('run');
  cmd
    .description('launch SCRIPT on --nproc-per-node workers per node, elastic and fault tolerant (torchrun\'s counterpart)')
    .argument('<script>', 'a .js/.mjs/.ts training script (run with Node), a .py script (run with --python), or any executable')
    .argument('[args...]', 'arguments for the script')
    .option('--config <file>', 'a training config file (YAML or JSON), checked as `eh config validate` does: its elastic section sets the options below; flags given override it')
    .option('--nnodes <N|MIN:MAX>', `number of nodes, or the elastic range MIN:MAX (default: ${D.min_nodes})`)
    .option('--nproc-per-node <n>', `workers per node (a number, or auto = one per CPU) (default: ${D.nproc_per_node})`)
    .option('--node-rank <n>', 'this node\'s rank (static backend)')
    .option('--rdzv-backend <name>', `rendezvous backend: tcp (embedded store, alias c10d), etcd (v3), static (default: ${D.rdzv_backend})`)
    .option('--rdzv-endpoint <host:port>', 'the store: the agent hosting the TCP store, or an etcd endpoint')
    .option('--rdzv-id <id>', `job id, the same on every node (default: ${D.rdzv_id})`)
    .option('--rdzv-conf <k=v,...>', 'join_timeout, last_call_timeout, close_timeout, keep_alive_interval, keep_alive_max_attempt (seconds), is_host, token')
    .option('--standalone', 'one node: an embedded store on a free port, a fresh token')
    .option('--max-restarts <n>', `restarts of the worker group allowed for the whole job (default: ${D.max_restarts})`)
    .option('--monitor-interval <s>', `seconds between health checks (exits are acted on at once) (default: ${D.monitor_interval})`)
    .option('--heartbeat-interval <s>', 'seconds between worker heartbeats (default: a third of the timeout, at most 30)')
    .option('--heartbeat-timeout <s>', `seconds without a heartbeat before a worker counts as hung (default: ${D.heartbeat_timeout})`)
    .option('--grace-period <s>', `seconds between the stop signal and SIGKILL when stopping workers (default: ${D.grace_period})`)
    .option('--log-dir <dir>', 'keep each attempt\'s per-rank stdout/stderr, error files and reports here')
    .option('-t, --tee <0-3|r:n,...>', 'streams kept on the console although --redirects sends them to files: 1 stdout, 2 stderr, 3 both')
    .option('-r, --redirects <0-3|r:n,...>', 'keep these streams out of the console (files only): 1 stdout, 2 stderr, 3 both')
    .option('--role <name>', `worker role name (ROLE_NAME) (default: ${L.role})`)
    .option('--no-node', 'run SCRIPT as an executable, not with Node')
    .option('--python <path>', 'the interpreter of a .py script (default: /usr/bin/python3)')
    .addOption(new Option('--no-python', 'torchrun\'s spelling of --no-node').hideHelp())
    .option('--preload <mods>', 'comma-separated modules that standby workers import in advance (e.g. @tensorflow/tfjs; for a .py script e.g. torch,torch.distributed, the default when it imports torch)')
    .option('--standby-workers <n>', 'pre-started standby Node or Python processes kept for fast replacement (default: --nproc-per-node)')
    .option('--retry-startup-failures', 'restart workers that fail before they started (bad path, syntax error) instead of failing at once')
    .option('--local-addr <addr>', 'this node\'s address as other nodes reach it')
    .option('--memory-limit <MiB>', `bytes workers may keep in the agent's memory (agentMemory), in MiB (default: ${L.memory_limit_mb})`)
    .option('--metrics-port <port>', 'serve Prometheus /metrics on this port (0: a free one, printed); off by default')
    .option('--dashboard-port <port>', 'serve the live dashboard on this port (0: a free one, printed); off by default')
    .option('--monitor-host <addr>', 'address the metrics and dashboard servers bind to', '127.0.0.1')
    .passThroughOptions()
    .action(async (script: string, args: string[], o: RunOpts) => {
      let config: ElasticTrainingConfig;
      const fromFile = o.config === undefined ? undefined : await elasticSectionOf(o.config);
      if (fromFile === null) {
        await flushConsole();
        process.exit(2);
      }
      try {
        config = configFromOptions(o, fromFile);
      } catch (err) {
        process.stderr.write(`eh run: ${describeError(err)}\n`);
        process.exit(2);
      }
      let monitor: AgentMonitorOptions;
      try {
        monitor = monitorFromOptions(o);
      } catch (err) {
        process.stderr.write(`eh run: ${describeError(err)}\n`);
        process.exit(2);
      }
      const agent = new ElasticAgent({ config, script, scriptArgs: args, monitor });
      const result = await agent.run();
      if (result.report !== undefined) process.stderr.write(`${result.report}\n`);
      await flushConsole();
      process.exit(result.exitCode);
    });
  return cmd;
}

/**
 * Resolves once everything written to stdout and stderr has left the process. Writes to a pipe are
 * asynchronous in Node, and process.exit() drops what is still queued: the workers' last lines, or the report.
 */
function flushConsole(): Promise<void> {
  const flushed = (s: NodeJS.WriteStream): Promise<void> => new Promise((resolve) => s.write('', () => resolve()));
  return Promise.all([flushed(process.stdout), flushed(process.stderr)]).then(() => undefined);
}

/** Register `run` on the `eh` program. */
export function registerRunCommand(program: Command): void {
  program.enablePositionalOptions();
  const cmd = buildRunCommand();
  cmd.copyInheritedSettings(program);
  // Bad input exits with status 2 (after commander's own message), like other CLI usage errors.
  cmd.exitOverride((err: CommanderError) => {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') process.exit(0);
    process.exit(2);
  });
  program.addCommand(cmd);
}

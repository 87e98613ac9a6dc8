/**
 * ElasticTrainingConfig: the launcher's settings (the reference's fields, camelCased, plus torchrun's
 * options), validated as a whole so that every problem is reported at once.
 */
import { defaultHeartbeatInterval, ELASTIC_DEFAULTS as D, LAUNCHER_ONLY_DEFAULTS as L, ELASTIC_RDZV_CONF_DEFAULTS as R } from '../config/index.js';
import { ConfigurationError, intAtLeast, numberAbove, problemOf } from '../errors/index.js';

export type RdzvBackend = 'tcp' | 'etcd' | 'static';
/** torchrun's --tee / --redirects values: 0 none, 1 stdout, 2 stderr, 3 both; or per local rank ("0:1,1:3"). */
export type StreamSelect = string;

export interface RdzvConf {
  /** Seconds to wait for `minNodes` to join a round (torch's join_timeout, default 600). */
  joinTimeout: number;
  /** Seconds of the last-call window once `minNodes` are in (default 30). */
  lastCallTimeout: number;
  /** Seconds before a round that reached `minNodes` is closed regardless (default 30). */
  closeTimeout: number;
  /** Seconds between keep-alives (default 5). */
  keepAliveInterval: number;
  /** Missed keep-alives before a node is dropped (default 3). */
  keepAliveMaxAttempt: number;
  /** Host the TCP store in this agent (tcp backend); default: when the endpoint's host is this machine and its port is free. */
  isHost?: boolean;
  /** The job's token (multi-node); else EH_TOKEN. */
  token?: string;
}

export interface ElasticTrainingConfigOptions {
  minNodes?: number;
  maxNodes?: number;
  nprocPerNode?: number;
  rdzvBackend?: RdzvBackend | 'c10d';
  rdzvEndpoint?: string;
  rdzvId?: string;
  rdzvConf?: Partial<RdzvConf>;
  standalone?: boolean;
  nodeRank?: number;
  maxRestarts?: number;
  monitorInterval?: number;
  heartbeatInterval?: number;
  heartbeatTimeout?: number;
  gracePeriod?: number;
  logDir?: string;
  tee?: StreamSelect;
  redirects?: StreamSelect;
  role?: string;
  noNode?: boolean;
  preload?: string[];
  /** Interpreter of a .py script (default /usr/bin/python3). */
  python?: string;
  standbyWorkers?: number;
  retryStartupFailures?: boolean;
  localAddr?: string;
  nodeArgs?: string[];
  /** Bytes of agent-held memory workers may fill (agentMemory), in MiB; default 1024. */
  memoryLimitMb?: number;
}

/** The config's rendezvous defaults (src/config/defaults.ts), with our field names. */
export const RDZV_CONF_DEFAULTS: RdzvConf = {
  joinTimeout: R.join_timeout,
  lastCallTimeout: R.last_call_timeout,
  closeTimeout: R.close_timeout,
  keepAliveInterval: R.keep_alive_interval,
  keepAliveMaxAttempt: R.keep_alive_max_attempt,
};

/** `rdzv-conf` keys as torch spells them, to our field names. */
export const RDZV_CONF_KEYS: Record<string, keyof RdzvConf> = {
  join_timeout: 'joinTimeout',
  last_call_timeout: 'lastCallTimeout',
  close_timeout: 'closeTimeout',
  keep_alive_interval: 'keepAliveInterval',
  keep_alive_max_attempt: 'keepAliveMaxAttempt',
  is_host: 'isHost',
  token: 'token',
};

export class ElasticTrainingConfig {
  readonly minNodes: number;
  readonly maxNodes: number;
  readonly nprocPerNode: number;
  readonly rdzvBackend: RdzvBackend;
  readonly rdzvEndpoint: string;
  readonly rdzvId: string;
  readonly rdzvConf: RdzvConf;
  readonly standalone: boolean;
  readonly nodeRank: number | undefined;
  readonly maxRestarts: number;
  /** Seconds. */
  readonly monitorInterval: number;
  /** Seconds between worker heartbeats. */
  readonly heartbeatInterval: number;
  /** Seconds without a heartbeat before a worker counts as hung. */
  readonly heartbeatTimeout: number;
  /** Seconds between the stop signal and SIGKILL. */
  readonly gracePeriod: number;
  readonly logDir: string | undefined;
  readonly tee: StreamSelect;
  readonly redirects: StreamSelect;
  readonly role: string;
  readonly noNode: boolean;
  readonly preload: string[];
  /** Interpreter of a .py script; undefined: /usr/bin/python3 (src/agent/python/python-worker.ts). */
  readonly python: string | undefined;
  /** Pre-started standby Node processes kept per node (default: one per local worker). */
  readonly standbyWorkers: number;
  readonly retryStartupFailures: boolean;
  readonly localAddr: string | undefined;
  readonly nodeArgs: string[];
  readonly memoryLimitMb: number;

  constructor(options: ElasticTrainingConfigOptions = {}) {
    this.minNodes = options.minNodes ?? D.min_nodes;
    // Every default comes from src/config/defaults.ts, shared with the config schema and the `eh run` flags.
    this.maxNodes = options.maxNodes ?? D.max_nodes ?? this.minNodes;
    this.nprocPerNode = options.nprocPerNode ?? D.nproc_per_node;
    const backend = options.rdzvBackend ?? D.rdzv_backend;
    this.rdzvBackend = backend === 'c10d' ? 'tcp' : backend;
    this.rdzvEndpoint = options.rdzvEndpoint ?? D.rdzv_endpoint;
    this.rdzvId = options.rdzvId ?? D.rdzv_id;
    this.rdzvConf = { ...RDZV_CONF_DEFAULTS, ...stripUndefined(options.rdzvConf ?? {}) };
    this.standalone = options.standalone ?? false;
    this.nodeRank = options.nodeRank;
    this.maxRestarts = options.maxRestarts ?? D.max_restarts;
    this.monitorInterval = options.monitorInterval ?? D.monitor_interval;
    this.heartbeatTimeout = options.heartbeatTimeout ?? D.heartbeat_timeout;
    this.heartbeatInterval = options.heartbeatInterval ?? D.heartbeat_interval ?? defaultHeartbeatInterval(this.heartbeatTimeout);
    this.gracePeriod = options.gracePeriod ?? D.grace_period;
    this.logDir = options.logDir;
    this.tee = options.tee ?? L.tee;
    this.redirects = options.redirects ?? L.redirects;
    this.role = options.role ?? L.role;
    this.noNode = options.noNode ?? false;
    this.preload = options.preload ?? [];
    this.python = options.python;
    // Derived from --nproc-per-node only when that is valid: a bad value is reported once, under its own name.
    this.standbyWorkers = options.standbyWorkers ?? (Number.isInteger(this.nprocPerNode) && this.nprocPerNode > 0 ? this.nprocPerNode : 0);
    this.retryStartupFailures = options.retryStartupFailures ?? false;
    this.localAddr = options.localAddr;
    this.nodeArgs = options.nodeArgs ?? [];
    this.memoryLimitMb = options.memoryLimitMb ?? L.memory_limit_mb;
    this.validate(backend);
  }

  /** True when the job spans one node only (standalone, or --nnodes 1 with no endpoint). */
  get singleNode(): boolean {
    return this.standalone || (this.maxNodes === 1 && this.rdzvEndpoint === '');
  }

  private validate(backendGiven: string): void {
    const problems: string[] = [];
    // The package's one check (src/errors/checks.ts), collecting every problem instead of throwing at the first.
    const collect = (problem: string | undefined): void => void (problem !== undefined && problems.push(problem));
    const posInt = (v: number, name: string, min = 1): void => collect(problemOf(v, name, intAtLeast(min)));
    const posNum = (v: number, name: string, allowZero = false, unit = 'seconds'): void => collect(problemOf(v, name, numberAbove(0, { inclusive: allowZero, unit })));
    posInt(this.minNodes, 'minNodes (--nnodes MIN)');
    posInt(this.maxNodes, 'maxNodes (--nnodes MAX)');
    if (Number.isInteger(this.minNodes) && Number.isInteger(this.maxNodes) && this.maxNodes < this.minNodes) {
      problems.push(`--nnodes ${this.minNodes}:${this.maxNodes}: the maximum is below the minimum; write MIN:MAX with MIN <= MAX`);
    }
    posInt(this.nprocPerNode, 'nprocPerNode (--nproc-per-node)');
    if (backendGiven === 'etcd-v2') problems.push('rdzvBackend etcd-v2 is not supported: etcd dropped its v2 API; use "etcd" (v3)');
    else if (!['tcp', 'etcd', 'static'].includes(this.rdzvBackend)) problems.push(`rdzvBackend must be tcp, etcd or static, got ${JSON.stringify(backendGiven)}`);
    if (this.rdzvEndpoint !== '' && !/^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/.test(this.rdzvEndpoint) && !(this.rdzvBackend === 'etcd' && /^https?:\/\//.test(this.rdzvEndpoint))) {
      problems.push(`rdzvEndpoint must be HOST:PORT, got ${JSON.stringify(this.rdzvEndpoint)}`);
    }
    if (!/^[A-Za-z0-9._-]+$/.test(this.rdzvId)) problems.push(`rdzvId may hold letters, digits, '.', '_' and '-' only, got ${JSON.stringify(this.rdzvId)}`);
    if (this.nodeRank !== undefined) posInt(this.nodeRank, 'nodeRank (--node-rank)', 0);
    if (this.rdzvBackend === 'static' && this.minNodes !== this.maxNodes) problems.push('the static backend needs a fixed --nnodes N, not MIN:MAX');
    if (this.standalone && (this.minNodes !== 1 || this.maxNodes !== 1)) problems.push('--standalone runs one node: drop --nnodes or use --nnodes 1');
    posInt(this.maxRestarts, 'maxRestarts (--max-restarts)', 0);
    posNum(this.monitorInterval, 'monitorInterval (--monitor-interval)');
    posNum(this.heartbeatInterval, 'heartbeatInterval', true);
    posNum(this.heartbeatTimeout, 'heartbeatTimeout (--heartbeat-timeout)');
    if (this.heartbeatInterval > 0 && this.heartbeatInterval >= this.heartbeatTimeout) problems.push(`heartbeatInterval (${this.heartbeatInterval} s) must be below heartbeatTimeout (${this.heartbeatTimeout} s)`);
    posNum(this.gracePeriod, 'gracePeriod (--grace-period)', true);
    posInt(this.standbyWorkers, 'standbyWorkers (--standby-workers)', 0);
    posNum(this.memoryLimitMb, 'memoryLimitMb (--memory-limit)', true, 'MiB');
    for (const [name, v] of [['joinTimeout', this.rdzvConf.joinTimeout], ['lastCallTimeout', this.rdzvConf.lastCallTimeout], ['closeTimeout', this.rdzvConf.closeTimeout], ['keepAliveInterval', this.rdzvConf.keepAliveInterval]] as const) {
      posNum(v, `rdzv-conf ${name}`, name === 'lastCallTimeout');
    }
    posInt(this.rdzvConf.keepAliveMaxAttempt, 'rdzv-conf keep_alive_max_attempt');
    for (const [name, v] of [['--tee', this.tee], ['--redirects', this.redirects]] as const) {
      try {
        parseStreamSelect(v, name);
      } catch (err) {
        problems.push(err instanceof Error ? err.message : String(err));
      }
    }
    if (!/^[A-Za-z0-9_.-]+$/.test(this.role)) problems.push(`role must be a plain name, got ${JSON.stringify(this.role)}`);
    if (problems.length > 0) {
      throw new ConfigurationError(`Invalid launcher configuration: ${problems.join('; ')}`, {
        suggestions: ['See `eh run --help` for every option and its accepted values.'],
      });
    }
  }

  /** torchrun's command-line arguments for the same job (etcd -> torch's etcd-v2 backend, tcp -> c10d). */
  toTorchrunArgs(): string[] {
    const backend = this.rdzvBackend === 'tcp' ? 'c10d' : this.rdzvBackend === 'etcd' ? 'etcd-v2' : 'static';
    const args = [
      `--nnodes=${this.minNodes === this.maxNodes ? this.minNodes : `${this.minNodes}:${this.maxNodes}`}`,
      `--nproc_per_node=${this.nprocPerNode}`,
    ];
    if (this.standalone) args.push('--standalone');
    else {
      args.push(`--rdzv_backend=${backend}`, `--rdzv_id=${this.rdzvId}`);
      if (this.rdzvEndpoint !== '') args.push(`--rdzv_endpoint=${this.rdzvEndpoint}`);
      const conf = this.rdzvConfPairs(false);
      if (conf !== '') args.push(`--rdzv_conf=${conf}`);
    }
    if (this.nodeRank !== undefined) args.push(`--node_rank=${this.nodeRank}`);
    args.push(`--max_restarts=${this.maxRestarts}`, `--monitor_interval=${this.monitorInterval}`, `--role=${this.role}`);
    if (this.logDir !== undefined) args.push(`--log_dir=${this.logDir}`);
    if (this.redirects !== '0') args.push(`--redirects=${this.redirects}`);
    if (this.tee !== '0') args.push(`--tee=${this.tee}`);
    if (this.noNode) args.push('--no_python');
    return args;
  }

  /** `eh run` arguments that reproduce this configuration (before the script). */
  toEhArgs(): string[] {
    const args = [`--nnodes=${this.minNodes === this.maxNodes ? this.minNodes : `${this.minNodes}:${this.maxNodes}`}`, `--nproc-per-node=${this.nprocPerNode}`];
    if (this.standalone) args.push('--standalone');
    else {
      args.push(`--rdzv-backend=${this.rdzvBackend}`, `--rdzv-id=${this.rdzvId}`);
      if (this.rdzvEndpoint !== '') args.push(`--rdzv-endpoint=${this.rdzvEndpoint}`);
      const conf = this.rdzvConfPairs(true);
      if (conf !== '') args.push(`--rdzv-conf=${conf}`);
    }
    if (this.nodeRank !== undefined) args.push(`--node-rank=${this.nodeRank}`);
    args.push(
      `--max-restarts=${this.maxRestarts}`,
      `--monitor-interval=${this.monitorInterval}`,
      `--heartbeat-interval=${this.heartbeatInterval}`,
      `--heartbeat-timeout=${this.heartbeatTimeout}`,
      `--grace-period=${this.gracePeriod}`,
      `--role=${this.role}`,
      `--standby-workers=${this.standbyWorkers}`,
    );
    if (this.logDir !== undefined) args.push(`--log-dir=${this.logDir}`);
    if (this.redirects !== '0') args.push(`--redirects=${this.redirects}`);
    if (this.tee !== '0') args.push(`--tee=${this.tee}`);
    if (this.noNode) args.push('--no-node');
    if (this.preload.length > 0) args.push(`--preload=${this.preload.join(',')}`);
    if (this.python !== undefined) args.push(`--python=${this.python}`);
    if (this.retryStartupFailures) args.push('--retry-startup-failures');
    if (this.localAddr !== undefined) args.push(`--local-addr=${this.localAddr}`);
    if (this.memoryLimitMb !== L.memory_limit_mb) args.push(`--memory-limit=${this.memoryLimitMb}`);
    return args;
  }

  /** Non-default rendezvous settings as `key=value,...`; the token only when `withToken`. */
  private rdzvConfPairs(withToken: boolean): string {
    const pairs: string[] = [];
    for (const [key, field] of Object.entries(RDZV_CONF_KEYS)) {
      const v = this.rdzvConf[field];
      if (v === undefined || (field === 'token' && !withToken)) continue;
      if (field !== 'isHost' && field !== 'token' && v === RDZV_CONF_DEFAULTS[field]) continue;
      pairs.push(`${key}=${String(v)}`);
    }
    return pairs.join(',');
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Which streams (stdout, stderr) a --tee/--redirects value selects for `localRank`. */
export function parseStreamSelect(value: string, option = '--redirects'): (localRank: number) => { stdout: boolean; stderr: boolean } {
  const decode = (d: string): { stdout: boolean; stderr: boolean } => {
    if (!/^[0-3]$/.test(d)) throw new ConfigurationError(`${option} takes 0 (none), 1 (stdout), 2 (stderr) or 3 (both), or LOCAL_RANK:N pairs such as 0:1,1:3; got ${JSON.stringify(value)}`);
    const n = Number(d);
    return { stdout: (n & 1) !== 0, stderr: (n & 2) !== 0 };
  };
  if (!value.includes(':')) {
    const all = decode(value);
    return () => all;
  }
  const map = new Map<number, { stdout: boolean; stderr: boolean }>();
  for (const pair of value.split(',')) {
    const [r, d] = pair.split(':');
    if (!/^\d+$/.test(r ?? '') || d === undefined) throw new ConfigurationError(`${option}: ${JSON.stringify(pair)} is not LOCAL_RANK:N`);
    map.set(Number(r), decode(d));
  }
  return (lr) => map.get(lr) ?? { stdout: false, stderr: false };
}

/** Parse `--nnodes N` or `MIN:MAX`. */
export function parseNnodes(value: string): { minNodes: number; maxNodes: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(value.trim());
  if (m === null) throw new ConfigurationError(`--nnodes takes N or MIN:MAX (whole numbers), got ${JSON.stringify(value)}`);
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : Number(m[2]);
  return { minNodes: min, maxNodes: max };
}

/** Parse `--rdzv-conf key=value,...` with torch's key names. */
export function parseRdzvConf(value: string): Partial<RdzvConf> {
  const out: Partial<RdzvConf> = {};
  if (value.trim() === '') return out;
  for (const pair of value.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigurationError(`--rdzv-conf: ${JSON.stringify(pair)} is not key=value`, { suggestions: [`Known keys: ${Object.keys(RDZV_CONF_KEYS).join(', ')}`] });
    const key = pair.slice(0, eq).trim();
    const raw = pair.slice(eq + 1).trim();
    const field = RDZV_CONF_KEYS[key];
    if (field === undefined) throw new ConfigurationError(`--rdzv-conf: unknown key ${JSON.stringify(key)}`, { suggestions: [`Known keys: ${Object.keys(RDZV_CONF_KEYS).join(', ')}`] });
    if (field === 'token') out.token = raw;
    else if (field === 'isHost') {
      if (!/^(1|0|true|false|yes|no)$/i.test(raw)) throw new ConfigurationError(`--rdzv-conf is_host takes true or false, got ${JSON.stringify(raw)}`);
      out.isHost = /^(1|true|yes)$/i.test(raw);
    } else {
      const n = Number(raw);
      if (raw === '' || !Number.isFinite(n)) throw new ConfigurationError(`--rdzv-conf ${key} takes a number, got ${JSON.stringify(raw)}`);
      out[field] = n;
    }
  }
  return out;
}

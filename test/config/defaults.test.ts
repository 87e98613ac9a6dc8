import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ElasticTrainingConfig, elasticOptionsFromSection } from '../../src/agent/index.js';
import { configFromOptions, buildRunCommand } from '../../src/cli/run.js';
import { defaultConfig, defaultHeartbeatInterval, ELASTIC_DEFAULTS, ELASTIC_RDZV_CONF_DEFAULTS, LAUNCHER_ONLY_DEFAULTS, validateElasticConfig } from '../../src/config/index.js';

/** `eh run x.mjs` with no flag: what commander hands to configFromOptions (the action replaced: nothing runs). */
function runWithFlags(...flags: string[]): ElasticTrainingConfig {
  const cmd = buildRunCommand();
  cmd.action(() => undefined);
  cmd.parse([...flags, 'x.mjs'], { from: 'user' });
  return configFromOptions(cmd.opts());
}

// Each setting: its config key, and how the launcher (class or flags) holds it.
const SETTINGS: [keyof typeof ELASTIC_DEFAULTS, (c: ElasticTrainingConfig) => unknown][] = [
  ['min_nodes', (c) => c.minNodes],
  ['max_nodes', (c) => c.maxNodes],
  ['nproc_per_node', (c) => c.nprocPerNode],
  ['max_restarts', (c) => c.maxRestarts],
  ['monitor_interval', (c) => c.monitorInterval],
  ['heartbeat_interval', (c) => c.heartbeatInterval],
  ['heartbeat_timeout', (c) => c.heartbeatTimeout],
  ['grace_period', (c) => c.gracePeriod],
  ['rdzv_backend', (c) => c.rdzvBackend],
  ['rdzv_endpoint', (c) => c.rdzvEndpoint],
  ['rdzv_id', (c) => c.rdzvId],
];

test('every launcher setting has one default: the config schema, ElasticTrainingConfig and the eh run flags agree', () => {
  const schema = defaultConfig().elastic;
  const fromClass = new ElasticTrainingConfig();
  const fromFlags = runWithFlags();
  // What the file's defaults mean for the launcher (null: derived from another key).
  const fromFile = new ElasticTrainingConfig(elasticOptionsFromSection(schema));
  const meaning: Record<string, unknown> = { ...schema, max_nodes: schema.max_nodes ?? schema.min_nodes, heartbeat_interval: schema.heartbeat_interval ?? defaultHeartbeatInterval(schema.heartbeat_timeout) };
  for (const [key, read] of SETTINGS) {
    assert.equal(schema[key], ELASTIC_DEFAULTS[key], `schema elastic.${key}`);
    assert.equal(read(fromClass), meaning[key], `ElasticTrainingConfig for ${key}`);
    assert.equal(read(fromFlags), meaning[key], `eh run flags for ${key}`);
    assert.equal(read(fromFile), meaning[key], `a config file's defaults for ${key}`);
  }
  assert.deepEqual(schema.rdzv_conf, ELASTIC_RDZV_CONF_DEFAULTS);
  const conf = { joinTimeout: schema.rdzv_conf.join_timeout, lastCallTimeout: schema.rdzv_conf.last_call_timeout, closeTimeout: schema.rdzv_conf.close_timeout, keepAliveInterval: schema.rdzv_conf.keep_alive_interval, keepAliveMaxAttempt: schema.rdzv_conf.keep_alive_max_attempt };
  for (const c of [fromClass, fromFlags, fromFile]) assert.deepEqual(c.rdzvConf, conf);
  assert.equal(fromClass.memoryLimitMb, LAUNCHER_ONLY_DEFAULTS.memory_limit_mb);
  assert.equal(fromFlags.memoryLimitMb, LAUNCHER_ONLY_DEFAULTS.memory_limit_mb);
  assert.equal(fromFlags.role, LAUNCHER_ONLY_DEFAULTS.role);
  assert.equal(fromClass.role, LAUNCHER_ONLY_DEFAULTS.role);
  // The chosen values (README, "The eh command"): torchrun's where the reference's class differs.
  assert.equal(fromFlags.maxRestarts, 0);
  assert.equal(fromFlags.maxNodes, 1);
});

test('eh run --help shows the shared defaults', () => {
  const help = buildRunCommand().helpInformation();
  assert.match(help, new RegExp(`--max-restarts <n>[^\\n]*\\n?[^-]*\\(default: ${ELASTIC_DEFAULTS.max_restarts}\\)`));
  assert.match(help, new RegExp(`--heartbeat-timeout <s>[^\\n]*\\n?[^-]*\\(default: ${ELASTIC_DEFAULTS.heartbeat_timeout}\\)`));
  assert.match(help, /--config <file>/);
});

test('flags override the file; the file overrides the defaults', () => {
  const r = validateElasticConfig({ elastic: { min_nodes: 2, max_nodes: 3, max_restarts: 7, heartbeat_timeout: 12, rdzv_conf: { join_timeout: 5 } } });
  assert.equal(r.valid, true, r.errors.join('; '));
  const cmd = buildRunCommand();
  cmd.action(() => undefined);
  cmd.parse(['--max-restarts', '1', '--rdzv-conf', 'close_timeout=9', 'x.mjs'], { from: 'user' });
  const c = configFromOptions(cmd.opts(), r.config!.elastic);
  assert.equal(c.minNodes, 2);
  assert.equal(c.maxNodes, 3);
  assert.equal(c.maxRestarts, 1, 'the flag wins');
  assert.equal(c.heartbeatTimeout, 12);
  assert.equal(c.heartbeatInterval, 4, 'derived from the file\'s timeout');
  assert.equal(c.rdzvConf.joinTimeout, 5);
  assert.equal(c.rdzvConf.closeTimeout, 9);
});

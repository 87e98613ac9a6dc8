import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ElasticTrainingConfig, getWorldInfo, parseNnodes, parseRdzvConf, WORKER_ENV_NAMES } from '../../src/agent/index.js';
import { normalizeRunArgv } from '../../src/cli/run-argv.js';
import { ConfigurationError, DistributedSetupError } from '../../src/errors/index.js';
import { EH, FIXTURES, ROOT, startAgent, tempDir } from './harness.js';

function eh(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [EH, ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('bad input gives a clear message and exit status 2, never a stack trace', () => {
  const cases: [string[], RegExp][] = [
    [['run', '--bogus', 'x.mjs'], /unknown option '--bogus'/],
    [['run', '--nnodes', '3:1', 'x.mjs'], /--nnodes 3:1: the maximum is below the minimum/],
    [['run', '--nproc-per-node', '0', 'x.mjs'], /nprocPerNode \(--nproc-per-node\) must be an integer >= 1, got 0/],
    [['run', '--nproc_per_node', 'two', 'x.mjs'], /--nproc-per-node takes a whole number, got "two"/],
    [['run'], /missing required argument 'script'/],
    [['run', '--rdzv-conf', 'join_timeout=abc', 'x.mjs'], /join_timeout takes a number/],
    [['run', '--rdzv-conf', 'nope=1', 'x.mjs'], /unknown key "nope"/],
    [['run', '--rdzv-backend', 'etcd-v2', '--nnodes', '2', 'x.mjs'], /etcd dropped its v2 API/],
    [['run', '--redirects', '7', 'x.mjs'], /--redirects takes 0/],
  ];
  for (const [args, msg] of cases) {
    const r = eh(args);
    assert.equal(r.status, 2, `${args.join(' ')}: status ${r.status}\n${r.stderr}`);
    assert.match(r.stderr, msg, args.join(' '));
    assert.doesNotMatch(r.stderr, /^\s+at /m, `no stack trace for ${args.join(' ')}`);
  }
});

test('a multi-node job without a token is refused with a clear message', () => {
  const r = eh(['run', '--nnodes', '2', '--rdzv-endpoint', '127.0.0.1:1', join(FIXTURES, 'hello.mjs')], { EH_TOKEN: '' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /needs its shared token/);
  assert.match(r.stderr, /--rdzv-conf token=SECRET, or export EH_TOKEN/);
});

test('a store endpoint nobody listens on gives DistributedSetupError naming the endpoint within the join timeout', () => {
  const t0 = Date.now();
  const r = eh(['run', '--nnodes', '2', '--rdzv-endpoint', '127.0.0.1:9', '--rdzv-conf', 'join_timeout=2,is_host=false,token=abc', join(FIXTURES, 'hello.mjs')]);
  const took = Date.now() - t0;
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /127\.0\.0\.1:9/);
  assert.match(r.stderr, /Could not connect to the store/);
  assert.ok(took < 15_000, `bounded by the join timeout (${took} ms)`);
});

test('underscored and dashed spellings are the same; arguments after the script are the script\'s own', () => {
  const withValue = new Set(['--nproc-per-node', '--rdzv-conf']);
  assert.deepEqual(
    normalizeRunArgv(['--nproc_per_node', '2', '--max_restarts=3', '--standalone', 'train.js', '--lr_rate', '0.1'], (n) => withValue.has(n)),
    ['--nproc-per-node', '2', '--max-restarts=3', '--standalone', 'train.js', '--lr_rate', '0.1'],
  );
  assert.deepEqual(normalizeRunArgv(['--rdzv_conf', 'join_timeout=5', 'x.py'], (n) => withValue.has(n)), ['--rdzv-conf', 'join_timeout=5', 'x.py']);
});

test('ElasticTrainingConfig: defaults, validation of every field at once, toTorchrunArgs/toEhArgs', () => {
  const c = new ElasticTrainingConfig();
  assert.equal(c.minNodes, 1);
  assert.equal(c.maxNodes, 1, 'max_nodes defaults to min_nodes (torchrun\'s --nnodes 1), see src/config/defaults.ts');
  assert.equal(c.rdzvBackend, 'tcp');
  assert.equal(c.heartbeatTimeout, 90);
  assert.equal(c.heartbeatInterval, 30);
  assert.equal(c.maxRestarts, 0, 'torchrun\'s default, see src/config/defaults.ts');
  assert.equal(c.gracePeriod, 30);
  let err: unknown;
  try {
    new ElasticTrainingConfig({ minNodes: 0, nprocPerNode: -1, gracePeriod: -1, rdzvId: 'a b' });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigurationError);
  for (const part of ['minNodes', 'nprocPerNode', 'gracePeriod', 'rdzvId']) assert.match(err.message, new RegExp(part));
  const e = new ElasticTrainingConfig({ minNodes: 2, maxNodes: 4, nprocPerNode: 2, rdzvBackend: 'etcd', rdzvEndpoint: 'h:2379', rdzvId: 'job1', maxRestarts: 3, rdzvConf: { joinTimeout: 60, token: 's3cret' } });
  assert.deepEqual(e.toTorchrunArgs().slice(0, 6), ['--nnodes=2:4', '--nproc_per_node=2', '--rdzv_backend=etcd-v2', '--rdzv_id=job1', '--rdzv_endpoint=h:2379', '--rdzv_conf=join_timeout=60']);
  assert.ok(!e.toTorchrunArgs().join(' ').includes('s3cret'), 'the token is not given to torchrun');
  const ehArgs = e.toEhArgs();
  assert.ok(ehArgs.includes('--rdzv-conf=join_timeout=60,token=s3cret'));
  // toEhArgs round-trips through the CLI parser.
  assert.deepEqual(parseNnodes('2:4'), { minNodes: 2, maxNodes: 4 });
  assert.deepEqual(parseRdzvConf('join_timeout=60,is_host=true,token=x'), { joinTimeout: 60, isHost: true, token: 'x' });
});

test('getWorldInfo lists every missing variable at once', () => {
  let err: unknown;
  try {
    getWorldInfo({ RANK: '0' });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof DistributedSetupError);
  assert.deepEqual(err.missingVars, ['LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT']);
  for (const v of err.missingVars) assert.ok(err.message.includes(v));
  const w = getWorldInfo({ RANK: '1', LOCAL_RANK: '1', WORLD_SIZE: '2', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29500' });
  assert.equal(w.rank, 1);
  assert.equal(w.masterPort, 29500);
  assert.throws(() => getWorldInfo({ RANK: '2', LOCAL_RANK: '0', WORLD_SIZE: '2', LOCAL_WORLD_SIZE: '1', MASTER_ADDR: 'a', MASTER_PORT: '1' }), /RANK=2 is not below WORLD_SIZE=2/);
});

test('shell and Python workers receive the full environment contract', async () => {
  const tmp = tempDir();
  try {
    const names = [...WORKER_ENV_NAMES];
    const env = { OUT_DIR: tmp.path, EXPECT_NAMES: JSON.stringify(names), EXPECT_NAMES_SH: names.join(' '), PATH: `/usr/bin:${process.env.PATH ?? ''}` };
    const py = startAgent(['--standalone', '--nproc_per_node', '2', '--no-node', join(FIXTURES, 'env_dump.py')], env);
    const sh = startAgent(['--standalone', '--nproc-per-node', '2', join(FIXTURES, 'env_dump.sh')], env);
    assert.equal((await py.exited(30_000)).code, 0, py.stderr());
    assert.equal((await sh.exited(30_000)).code, 0, sh.stderr());
    for (const r of [0, 1]) {
      const got = JSON.parse(readFileSync(join(tmp.path, `env-py-rank${r}.json`), 'utf8')) as Record<string, string | null>;
      const shell = Object.fromEntries(readFileSync(join(tmp.path, `env-sh-rank${r}.txt`), 'utf8').trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      for (const n of names) {
        assert.ok(got[n] !== null && got[n] !== '', `python rank ${r} got ${n}`);
        assert.ok(shell[n] !== undefined && shell[n] !== '__unset__' && shell[n] !== '', `shell rank ${r} got ${n}`);
      }
      assert.equal(got.RANK, String(r));
      assert.equal(got.WORLD_SIZE, '2');
      assert.equal(shell.LOCAL_RANK, String(r));
      assert.match(got.TORCHELASTIC_ERROR_FILE ?? '', /error\.json$/);
      assert.equal(got.EH_HEARTBEAT_MODE === null ? 'unset' : 'set', 'set');
    }
  } finally {
    tmp.remove();
  }
});

test('workers set up the collective from the agent\'s environment (via elastic-harness/agent), and a restarted group sets it up again', async () => {
  const tmp = tempDir();
  try {
    const agent = startAgent(['--standalone', '--nproc-per-node', '2', '--max-restarts', '1', '--grace-period', '3', join(FIXTURES, 'collective.mjs')], { OUT_DIR: tmp.path });
    const { code } = await agent.exited(60_000);
    const ev = readFileSync(join(tmp.path, 'events.log'), 'utf8');
    assert.equal(code, 0, `${agent.stderr()}\n${ev}`);
    for (const r of [0, 1]) assert.match(ev, new RegExp(`rank=${r} world=2 restart=1 sum=3 bcast={"from":0,"restart":1}`));
    assert.match(agent.stderr(), /rank 1 killed by SIGKILL/);
  } finally {
    tmp.remove();
  }
});

test('worker lines reach the console whole and prefixed with the rank, and every line is kept per rank; --redirects keeps a stream off the console', async () => {
  const tmp = tempDir();
  try {
    const logs = join(tmp.path, 'logs');
    const agent = startAgent(['--standalone', '--nproc-per-node', '2', '--log-dir', logs, join(FIXTURES, 'chatty.mjs')]);
    assert.equal((await agent.exited(30_000)).code, 0, agent.stderr());
    const lines = agent.stdout().split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 600);
    for (const l of lines) assert.match(l, /^\[rank(\d)\]:line \d+ from \1 x{2000} end$/);
    for (const r of [0, 1]) {
      const file = readFileSync(join(logs, 'attempt_0', String(r), 'stdout.log'), 'utf8').split('\n').filter((l) => l !== '');
      assert.equal(file.length, 300);
      assert.match(readFileSync(join(logs, 'attempt_0', String(r), 'stderr.log'), 'utf8'), new RegExp(`err 2 from ${r}`));
    }
    assert.match(agent.stderr(), /\[rank1\]:err 0 from 1/);

    const quiet = startAgent(['--standalone', '--nproc-per-node', '2', '--redirects', '1', '--log-dir', join(tmp.path, 'logs2'), join(FIXTURES, 'chatty.mjs')]);
    assert.equal((await quiet.exited(30_000)).code, 0, quiet.stderr());
    assert.equal(quiet.stdout(), '', 'stdout redirected to the files only');
    assert.match(quiet.stderr(), /\[rank0\]:err 1 from 0/);
    assert.equal(readFileSync(join(tmp.path, 'logs2', 'attempt_0', '1', 'stdout.log'), 'utf8').split('\n').filter((l) => l !== '').length, 300);
  } finally {
    tmp.remove();
  }
});

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FIXTURES, pidAlive, readIf, startAgent, tempDir, waitFor } from './harness.js';

test('a hung worker (blocked event loop, heartbeats stop) is detected, its diagnostic report kept, and it is restarted', async () => {
  const tmp = tempDir();
  try {
    const logs = join(tmp.path, 'logs');
    const agent = startAgent(
      ['--standalone', '--nproc-per-node', '2', '--max-restarts', '1', '--heartbeat-interval', '0.2', '--heartbeat-timeout', '1.5', '--grace-period', '2', '--log-dir', logs, join(FIXTURES, 'hang.mjs')],
      { OUT_DIR: tmp.path, HANG_RANK: '1' },
    );
    const { code } = await agent.exited(60_000);
    assert.equal(code, 0, agent.stderr());
    assert.match(agent.stderr(), /rank 1 sent no heartbeat for 1.5 s/);
    const reportPath = join(logs, 'attempt_0', '1', 'diagnostic-report.json');
    assert.ok(existsSync(reportPath), `diagnostic report at ${reportPath}\n${agent.stderr()}`);
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as { pausedJavascriptStack?: string[]; header?: unknown; javascriptStack?: unknown };
    // The stack shows where the worker was stuck.
    assert.ok(report.pausedJavascriptStack?.some((f) => f.includes('spinForever')), JSON.stringify(report.pausedJavascriptStack));
    assert.ok(report.header !== undefined, 'a full Node diagnostic report (header, javascriptStack, libuv, ...)');
    const events = readIf(join(tmp.path, 'events.log')) ?? '';
    assert.match(events, /done rank=0 restart=1/);
    assert.match(events, /done rank=1 restart=1/);
  } finally {
    tmp.remove();
  }
});

test('--max-restarts 2 with a worker that always crashes: non-zero exit after exactly 3 attempts, report names the root cause', async () => {
  const tmp = tempDir();
  try {
    const logs = join(tmp.path, 'logs');
    const agent = startAgent(['--standalone', '--nproc-per-node', '2', '--max-restarts', '2', '--log-dir', logs, join(FIXTURES, 'crash.mjs')]);
    const { code } = await agent.exited(60_000);
    assert.equal(code, 1, agent.stderr());
    for (const a of [0, 1, 2]) assert.ok(existsSync(join(logs, `attempt_${a}`)), `attempt ${a} ran`);
    assert.ok(!existsSync(join(logs, 'attempt_3')), 'no 4th attempt');
    const err = agent.stderr();
    assert.match(err, /FAILED after 3 attempt\(s\): the job exceeded --max-restarts 2/);
    assert.match(err, /Root cause/);
    // The first failure of the job (restart 0), with its message and stack from the error file.
    assert.match(err, /error {6}: Error: boom from rank \d \(restart 0\)/);
    assert.match(err, /crash\.mjs:3/);
    // Both ranks throw at about the same moment; the one that loses the race may be stopped by the agent
    // (SIGTERM) before it throws, and then writes no error file.
    const ranks = [0, 1].filter((r) => existsSync(join(logs, 'attempt_0', String(r), 'error.json')));
    assert.ok(ranks.length >= 1, 'an error file was written in attempt 0');
    const errorFile = JSON.parse(readFileSync(join(logs, 'attempt_0', String(ranks[0]), 'error.json'), 'utf8')) as { eh: { rank: number; time: string; message: string } };
    assert.equal(errorFile.eh.rank, ranks[0]);
    assert.match(errorFile.eh.message, new RegExp(`boom from rank ${ranks[0]}`));
    assert.ok(!Number.isNaN(Date.parse(errorFile.eh.time)));
  } finally {
    tmp.remove();
  }
});

/** A script that is not valid JavaScript (written at test time: a fixture file would break the linter). */
function syntaxErrorScript(dir: string): string {
  const path = join(dir, 'syntax-error.mjs');
  writeFileSync(path, '// deliberately broken\nexport const x = ;\n');
  return path;
}

for (const what of ['a syntax error', 'a bad script path'] as const) {
  test(`a start-up failure (${what}) is reported at once with the worker's stderr, and not retried`, async () => {
    const tmp = tempDir();
    const script = what === 'a syntax error' ? syntaxErrorScript(tmp.path) : join(FIXTURES, 'no-such-script.mjs');
    try {
      const logs = join(tmp.path, 'logs');
      const t0 = Date.now();
      const agent = startAgent(['--standalone', '--nproc-per-node', '2', '--max-restarts', '5', '--log-dir', logs, script]);
      const { code } = await agent.exited(30_000);
      assert.equal(code, 1, agent.stderr());
      assert.ok(Date.now() - t0 < 15_000, 'reported at once');
      assert.ok(!existsSync(join(logs, 'attempt_1')), 'not retried');
      const err = agent.stderr();
      assert.match(err, /FAILED at start-up/);
      assert.match(err, /not retried; pass --retry-startup-failures/);
      assert.match(err, what === 'a syntax error' ? /SyntaxError/ : /script not found: .*no-such-script\.mjs/);
      assert.match(err, /last stderr lines:/);
    } finally {
      tmp.remove();
    }
  });
}

test('--retry-startup-failures retries a start-up failure up to --max-restarts', async () => {
  const tmp = tempDir();
  try {
    const logs = join(tmp.path, 'logs');
    const agent = startAgent(['--standalone', '--max-restarts', '1', '--retry-startup-failures', '--log-dir', logs, syntaxErrorScript(tmp.path)]);
    const { code } = await agent.exited(30_000);
    assert.equal(code, 1);
    assert.ok(existsSync(join(logs, 'attempt_1')) && !existsSync(join(logs, 'attempt_2')), agent.stderr());
  } finally {
    tmp.remove();
  }
});

test('SIGTERM to the agent goes to every worker; a worker ignoring it is SIGKILLed after the grace period', async () => {
  const tmp = tempDir();
  try {
    const agent = startAgent(['--standalone', '--nproc-per-node', '2', '--grace-period', '1.5', join(FIXTURES, 'signals.mjs')], { OUT_DIR: tmp.path, IGNORE_TERM: '1' });
    const pids = await waitFor('both workers ready', () => {
      const a = readIf(join(tmp.path, 'ready-rank0'));
      const b = readIf(join(tmp.path, 'ready-rank1'));
      return a !== undefined && b !== undefined ? [Number(a), Number(b)] : undefined;
    }, 20_000);
    agent.child.kill('SIGUSR2');
    await waitFor('SIGUSR2 forwarded', () => [0, 1].every((r) => (readIf(join(tmp.path, `signals-rank${r}`)) ?? '').includes('SIGUSR2')), 10_000);
    // A SIGUSR2 alone also stops the job (as torchrun does), so start the clock at the SIGTERM of a fresh run below.
    await agent.exited(20_000);
    await waitFor('workers gone after the agent exited', () => pids.every((p) => !pidAlive(p)), 5000);

    const agent2 = startAgent(['--standalone', '--nproc-per-node', '2', '--grace-period', '1.5', join(FIXTURES, 'signals.mjs')], { OUT_DIR: join(tmp.path), IGNORE_TERM: '1' });
    const pids2 = await waitFor('both workers ready again', () => {
      const a = readIf(join(tmp.path, 'ready-rank0'));
      const b = readIf(join(tmp.path, 'ready-rank1'));
      const p = [Number(a), Number(b)];
      return p.every((x) => !pids.includes(x) && x > 0) ? p : undefined;
    }, 20_000);
    const t0 = Date.now();
    agent2.child.kill('SIGTERM');
    const { code } = await agent2.exited(20_000);
    const took = Date.now() - t0;
    assert.equal(code, 143, agent2.stderr());
    for (const r of [0, 1]) assert.match(readIf(join(tmp.path, `signals-rank${r}`)) ?? '', /SIGTERM/);
    assert.ok(took >= 1400, `waited the grace period before SIGKILL (${took} ms)`);
    assert.ok(took < 10_000, `then killed (${took} ms)`);
    for (const pid of pids2) assert.ok(!pidAlive(pid), 'workers SIGKILLed');
  } finally {
    tmp.remove();
  }
});

test('when the agent is SIGKILLed its workers die too (no orphans)', async () => {
  const tmp = tempDir();
  try {
    const agent = startAgent(['--standalone', '--nproc-per-node', '2', join(FIXTURES, 'signals.mjs')], { OUT_DIR: tmp.path, IGNORE_TERM: '1' });
    const pids = await waitFor('workers ready', () => {
      const a = readIf(join(tmp.path, 'ready-rank0'));
      const b = readIf(join(tmp.path, 'ready-rank1'));
      return a !== undefined && b !== undefined ? [Number(a), Number(b)] : undefined;
    }, 20_000);
    agent.child.kill('SIGKILL');
    await agent.exited(5000);
    await waitFor('workers gone', () => pids.every((p) => !pidAlive(p)), 5000);
  } finally {
    tmp.remove();
  }
});

test('manual heartbeats: a worker that stops reporting progress while its event loop runs is detected; the report comes over IPC', async () => {
  const tmp = tempDir();
  try {
    const logs = join(tmp.path, 'logs');
    const agent = startAgent(['--standalone', '--nproc-per-node', '2', '--max-restarts', '1', '--heartbeat-timeout', '1.5', '--grace-period', '2', '--log-dir', logs, join(FIXTURES, 'hang-async.mjs')], { OUT_DIR: tmp.path });
    const { code } = await agent.exited(60_000);
    assert.equal(code, 0, agent.stderr());
    assert.match(agent.stderr(), /rank 0 sent no heartbeat/);
    const report = JSON.parse(readFileSync(join(logs, 'attempt_0', '0', 'diagnostic-report.json'), 'utf8')) as { header?: { processId?: number }; javascriptStack?: unknown; libuv?: unknown[] };
    assert.ok(report.header?.processId !== undefined && report.libuv !== undefined, 'a Node diagnostic report written by the worker itself');
    assert.match(readIf(join(tmp.path, 'events.log')) ?? '', /done rank=0 restart=1/);
  } finally {
    tmp.remove();
  }
});

test('agent-held memory: state put by a worker survives its SIGKILL and is read back by its replacement; the limit is enforced', async () => {
  const tmp = tempDir();
  try {
    const agent = startAgent(['--standalone', '--nproc-per-node', '2', '--max-restarts', '1', '--memory-limit', '1', join(FIXTURES, 'memory.mjs')], { OUT_DIR: tmp.path });
    const { code } = await agent.exited(60_000);
    const ev = readIf(join(tmp.path, 'events.log')) ?? '';
    assert.equal(code, 0, `${agent.stderr()}\n${ev}`);
    assert.match(ev, /put rank=1 available=true tooBig=agent memory full: big\/rank1/);
    for (const r of [0, 1]) assert.match(ev, new RegExp(`got rank=${r} ok=true deleted=true keys=ckpt/rank0,ckpt/rank1 missing=true`));
  } finally {
    tmp.remove();
  }
});

test('a script whose top level awaits something holding no handle (e.g. a wasm compile) is not cut short', async () => {
  const tmp = tempDir();
  try {
    const agent = startAgent(['--standalone', '--nproc-per-node', '2', '--standby-workers', '0', join(FIXTURES, 'unref-await.mjs')], { OUT_DIR: tmp.path });
    const { code } = await agent.exited(30_000);
    assert.equal(code, 0, agent.stderr());
    for (const r of [0, 1]) assert.equal(readIf(join(tmp.path, `finished-rank${r}`)), 'yes');
  } finally {
    tmp.remove();
  }
});

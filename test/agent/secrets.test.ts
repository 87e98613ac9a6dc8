/**
 * What the agent writes holds no secret (the job token, variables named like SECRET, PASSWORD, TOKEN, AWS
 * credentials), and reports and error files are readable by their owner only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, startAgent, tempDir } from './harness.js';

const SECRETS = { EH_TOKEN: 'tok-0123456789abcdef', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI-K7MDENG', AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', DB_PASSWORD: 'hunter2-hunter2', AWS_SESSION_TOKEN: 'FwoGZXIvYXdzEBsessiontoken' };

function assertClean(path: string): string {
  assert.ok(existsSync(path), `${path} exists`);
  const text = readFileSync(path, 'utf8');
  for (const [k, v] of Object.entries(SECRETS)) assert.ok(!text.includes(v), `${path} holds ${k}`);
  assert.equal(statSync(path).mode & 0o777, 0o600, `${path} is the owner's only`);
  return text;
}

for (const [fixture, how] of [['hang.mjs', 'via the inspector (event loop blocked)'], ['hang-async.mjs', 'asked over IPC (event loop turning)']] as const) {
  test(`the diagnostic report of a hung worker, ${how}, is redacted and 0600`, async () => {
    const tmp = tempDir();
    try {
      const logs = join(tmp.path, 'logs');
      const agent = startAgent(
        ['--standalone', '--nproc-per-node', '1', '--max-restarts', '1', '--heartbeat-interval', '0.2', '--heartbeat-timeout', '1.5', '--grace-period', '2', '--log-dir', logs, join(FIXTURES, fixture)],
        { OUT_DIR: tmp.path, HANG_RANK: '0', ...SECRETS },
      );
      await agent.exited(60_000);
      const text = assertClean(join(logs, 'attempt_0', '0', 'diagnostic-report.json'));
      const report = JSON.parse(text) as { environmentVariables?: Record<string, string> };
      assert.equal(report.environmentVariables?.AWS_SECRET_ACCESS_KEY, '[redacted]', 'the variable is there, its value is not');
      assert.equal(report.environmentVariables?.EH_TOKEN, '[redacted]');
      assert.equal(report.environmentVariables?.RANK, '0', 'the rest of the environment is kept');
    } finally {
      tmp.remove();
    }
  });
}

test('error files and the failure report hold no secret, and error files are 0600', async () => {
  const tmp = tempDir();
  try {
    const logs = join(tmp.path, 'logs');
    const agent = startAgent(['--standalone', '--nproc-per-node', '1', '--log-dir', logs, join(FIXTURES, 'leak-secret.mjs')], SECRETS);
    const { code } = await agent.exited(60_000);
    assert.equal(code, 1);
    const text = assertClean(join(logs, 'attempt_0', '0', 'error.json'));
    assert.match(text, /S3 refused the key \[redacted\]/);
    const report = agent.stderr().slice(agent.stderr().indexOf('Root cause'));
    assert.match(report, /token in use: \[redacted\]/);
    for (const v of Object.values(SECRETS)) assert.ok(!report.includes(v), 'the printed report holds no secret');
  } finally {
    tmp.remove();
  }
});

/**
 * The example commands the README gives (`node --import tsx examples/...`, `npx tsx examples/...`), run as a user
 * would, so that an example cannot rot unnoticed: each must exit 0 within its time limit. The demo (`npm run demo`)
 * has its own test (test/trainer/demo.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(`${ROOT}README.md`, 'utf8');
const commands = [...new Set([...readme.matchAll(/`(?:node --import tsx|npx tsx) (examples\/[\w./-]+\.ts)`/g)].map((m) => m[1]))];

test('the README lists example commands', () => {
  assert.ok(commands.length >= 2, `found: ${commands.join(', ')}`);
});

for (const script of commands) {
  test(`README example: node --import tsx ${script}`, () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, WORLD_SIZE: undefined, RANK: undefined } });
    assert.equal(r.status, 0, `${script} exited ${String(r.status)} (${String(r.signal)}):\n${r.stdout.slice(-1500)}\n${r.stderr.slice(-1500)}`);
  });
}

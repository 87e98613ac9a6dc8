/**
 * The example commands the README gives, run as a user would, so that an example cannot rot unnoticed: each must
 * exit 0 within its time limit. Two forms are run: `node --import tsx examples/...` (or `npx tsx examples/...`),
 * and the CLI form `node dist/cli/main.js <subcommand> ... examples/...` (`eh run` of an example worker,
 * `eh config validate` of an example file), which needs dist/ built first. The demo (`npm run demo`) has its own
 * test (test/trainer/demo.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(`${ROOT}README.md`, 'utf8');
const scripts = [...new Set([...readme.matchAll(/`(?:node --import tsx|npx tsx) (examples\/[\w./-]+\.ts)`/g)].map((m) => m[1]))];
// Whole commands in their own code span, so `npm run build && node dist/...` (a longer walk-through) is not taken.
const cliCommands = [...new Set([...readme.matchAll(/`node (dist\/cli\/main\.js [\w ./:-]*examples\/[\w./-]+)`/g)].map((m) => m[1]))];
// The launcher's variables of an outer `eh run` would turn each example into a rank of that job.
const env = { ...process.env, WORLD_SIZE: undefined, RANK: undefined, LOCAL_RANK: undefined, MASTER_ADDR: undefined, MASTER_PORT: undefined };

function runOk(args: string[], label: string): void {
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env });
  assert.equal(r.status, 0, `${label} exited ${String(r.status)} (${String(r.signal)}):\n${r.stdout.slice(-1500)}\n${r.stderr.slice(-1500)}`);
}

test('the README lists example commands of both forms', () => {
  assert.ok(scripts.length >= 2, `found: ${scripts.join(', ')}`);
  assert.ok(cliCommands.some((c) => c.includes(' run ')), `no eh run example among: ${cliCommands.join(', ')}`);
  assert.ok(cliCommands.some((c) => c.includes(' config validate ')), `no config validate example among: ${cliCommands.join(', ')}`);
});

for (const script of scripts) {
  test(`README example: node --import tsx ${script}`, () => runOk(['--import', 'tsx', script], script));
}

for (const command of cliCommands) {
  test(`README example: node ${command}`, () => {
    assert.ok(existsSync(`${ROOT}dist/cli/main.js`), 'dist/ is missing: run `npx tsc -p tsconfig.build.json` first');
    runOk(command.split(/\s+/), command);
  });
}

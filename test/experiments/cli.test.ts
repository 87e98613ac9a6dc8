import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
// By absolute URL: the commands run in temporary directories, outside the package.
const TSX = import.meta.resolve('tsx');

function eh(cwd: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', TSX, MAIN, ...args], { cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const SWEEP = `base_config: {experimentName: cli, model: {type: mlp}}
script: train.ts
grids:
  - name: lr
    parameters:
      optimizer.lr: [1.0e-4, 1.0e-3]
      training.batch_size: [16, 32]
`;

test('eh sweep prints a table and writes each experiment; --dry-run writes nothing; a bad file exits 2 with the reason', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eh-cli-sweep-'));
  try {
    writeFileSync(join(dir, 'sweep.yaml'), SWEEP);
    const dry = eh(dir, 'sweep', 'sweep.yaml', '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /name\s+grid\s+optimizer\.lr\s+training\.batch_size/);
    assert.match(dry.stdout, /cli_lr1\.0e-4_batch16\s+lr\s+0\.0001\s+16/);
    assert.match(dry.stdout, /4 experiment\(s\) in 1 grid\(s\) \(dry run/);
    assert.equal(existsSync(join(dir, 'experiments')), false);
    const r = eh(dir, 'sweep', 'sweep.yaml', '--limit', '1');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\.\.\. and 3 more/);
    const names = readdirSync(join(dir, 'experiments')).filter((n) => n.startsWith('cli_')).sort();
    assert.equal(names.length, 4);
    assert.equal(parse(readFileSync(join(dir, 'experiments', 'cli_lr1.0e-3_batch32', 'config.yaml'), 'utf8')).optimizer.lr, 1e-3);
    assert.ok(existsSync(join(dir, 'experiments', 'sweep_summary.txt')));
    writeFileSync(join(dir, 'bad.yaml'), 'grids: [{name: g, parameters: {optimizer.lr: [1, 1]}}]\n');
    const bad = eh(dir, 'sweep', 'bad.yaml');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /eh sweep: .*lists the value 1 twice/);
    assert.doesNotMatch(bad.stderr, /\n\s+at /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('eh submit --dry-run writes the directories and the array script; eh jobs without submissions says so', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eh-cli-submit-'));
  try {
    writeFileSync(join(dir, 'sweep.yaml'), SWEEP);
    const r = eh(dir, 'submit', 'sweep.yaml', '--template', 'default', '--dry-run', '--max-concurrent', '2');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /dry run: 4 experiment\(s\) written/);
    const batches = readdirSync(join(dir, 'experiments', '_batches'));
    assert.equal(batches.length, 1);
    assert.match(readFileSync(join(dir, 'experiments', '_batches', batches[0], 'array.sbatch'), 'utf8'), /3\) exec \/bin\/bash/);
    assert.ok(existsSync(join(dir, 'experiments', 'cli_lr1.0e-4_batch16', 'job.sbatch')));
    const noTemplate = eh(dir, 'submit', 'sweep.yaml');
    assert.notEqual(noTemplate.code, 0);
    assert.match(noTemplate.stderr, /--template/);
    const badTemplate = eh(dir, 'submit', 'sweep.yaml', '--template', 'missing.sbatch', '--dry-run');
    assert.equal(badTemplate.code, 2);
    assert.match(badTemplate.stderr, /Cannot read SBATCH template/);
    const jobs = eh(dir, 'jobs');
    assert.equal(jobs.code, 1);
    assert.match(jobs.stderr, /no submitted jobs recorded/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

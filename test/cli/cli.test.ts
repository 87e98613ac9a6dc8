import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

function eh(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('eh --version prints the package version; eh --help lists the commands', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const v = eh('--version');
  assert.equal(v.code, 0);
  assert.equal(v.stdout.trim(), pkg.version);
  const h = eh('--help');
  assert.equal(h.code, 0);
  assert.match(h.stdout, /run \[options\] <script>/);
  assert.match(h.stdout, /config/);
});

test('an unknown command or option is a usage error (exit 1 from commander) with a one-line hint, no stack trace', () => {
  const r = eh('frobnicate');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
  assert.match(r.stderr, /add --help for usage/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('eh config validate: 0 for a valid file, 1 with every error for an invalid one, 2 for an unreadable one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eh-cli-'));
  try {
    const ok = eh('config', 'validate', join(ROOT, 'examples', 'config', 'full.yaml'));
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /valid/);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'elastic:\n  min_nodes: 3\n  max_nodes: 2\ntraining:\n  lr: "0.1"\nelastik: {}\n');
    const r = eh('config', 'validate', bad);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /error: training\.lr: expected a number/);
    assert.match(r.stdout, /error: elastic\.max_nodes \(2\) must be >= elastic\.min_nodes \(3\)/);
    assert.match(r.stdout, /warning: unknown section 'elastik'.*did you mean 'elastic'/);
    const missing = eh('config', 'validate', join(dir, 'nope.yaml'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /not found/);
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'a: [\n');
    const b = eh('config', 'validate', broken);
    assert.equal(b.code, 2);
    assert.match(b.stderr, /line 2, column 1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('eh run --config and eh config validate report the same errors for the same file (one code path)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eh-cli-'));
  try {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'elastic:\n  min_nodes: 3\n  max_nodes: 2\n  heartbeat_timeout: -1\nmax_restarts: 2\n');
    const v = eh('config', 'validate', bad);
    assert.equal(v.code, 1);
    const errors = v.stdout.split('\n').filter((l) => l.startsWith('error: '));
    assert.equal(errors.length, 3, v.stdout);
    const r = eh('run', '--config', bad, 'x.mjs');
    assert.equal(r.code, 2, r.stderr);
    const runErrors = r.stderr.split('\n').filter((l) => l.includes(': error: ')).map((l) => l.slice(l.indexOf('error: ')));
    assert.deepEqual(runErrors, errors);
    assert.match(r.stderr, /3 error\(s\)/);
    // Unreadable: the same message from both.
    const dup = join(dir, 'dup.json');
    writeFileSync(dup, '{"elastic": {"min_nodes": 1, "min_nodes": 2}}');
    const vd = eh('config', 'validate', dup);
    const rd = eh('run', '--config', dup, 'x.mjs');
    assert.equal(vd.code, 2);
    assert.equal(rd.code, 2);
    assert.match(vd.stderr, /line 1, column 30: key "min_nodes" is written twice/);
    assert.equal(rd.stderr.split('\n')[0].replace(/^eh run: /, ''), vd.stderr.split('\n')[0].replace(/^eh config validate: /, ''));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('eh run --config FILE: the elastic section drives the run, flags given override it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eh-cli-'));
  try {
    const cfg = join(dir, 'train.yaml');
    writeFileSync(cfg, 'elastic:\n  nproc_per_node: 2\n  max_restarts: 3\n  rdzv_id: from-file\n');
    const script = join(dir, 'env.mjs');
    writeFileSync(script, "console.log(`env ${process.env.RANK} ${process.env.WORLD_SIZE} ${process.env.TORCHELASTIC_MAX_RESTARTS} ${process.env.TORCHELASTIC_RUN_ID}`);\n");
    const a = eh('run', '--standalone', '--config', cfg, script);
    assert.equal(a.code, 0, a.stderr);
    const lines = a.stdout.split('\n').filter((l) => l.includes('env ')).map((l) => l.slice(l.indexOf('env ')));
    assert.equal(lines.length, 2, a.stdout);
    for (const l of lines) assert.match(l, /^env [01] 2 3 /);
    const b = eh('run', '--standalone', '--config', cfg, '--max-restarts', '1', '--nproc-per-node', '1', script);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /env 0 1 1 /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

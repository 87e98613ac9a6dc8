import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ConfigurationError } from '../../src/errors/index.js';
import { SLURMError, SLURMLauncher, snapshotWorkingTree } from '../../src/slurm/index.js';

const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }).trim();

function repo(): string {
  const dir = mkdtempSync(join(tmpdir(), 'eh-git-'));
  git(dir, 'init', '-q', '-b', 'main');
  writeFileSync(join(dir, 'train.ts'), 'v1\n');
  writeFileSync(join(dir, 'gone.ts'), 'x\n');
  writeFileSync(join(dir, '.gitignore'), 'secret.env\nexperiments/\n');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'first');
  return dir;
}

test('snapshotWorkingTree commits uncommitted, untracked and deleted files to a branch without touching the checkout', async () => {
  const dir = repo();
  try {
    writeFileSync(join(dir, 'train.ts'), 'v2 uncommitted\n');
    writeFileSync(join(dir, 'new.ts'), 'untracked\n');
    writeFileSync(join(dir, 'staged.ts'), 'staged\n');
    git(dir, 'add', 'staged.ts');
    unlinkSync(join(dir, 'gone.ts'));
    writeFileSync(join(dir, 'secret.env'), 'ignored\n');
    const head = git(dir, 'rev-parse', 'HEAD');
    const status = git(dir, 'status', '--porcelain');
    const indexBefore = readFileSync(join(dir, '.git', 'index'));

    const snap = await snapshotWorkingTree(dir, 'eh/exp1', 'snapshot for exp1');
    assert.equal(snap.parent, head);
    assert.equal(snap.dirty, true);
    assert.equal(git(dir, 'rev-parse', 'eh/exp1'), snap.commit);
    assert.equal(git(dir, 'show', 'eh/exp1:train.ts'), 'v2 uncommitted');
    assert.equal(git(dir, 'show', 'eh/exp1:new.ts'), 'untracked');
    assert.equal(git(dir, 'show', 'eh/exp1:staged.ts'), 'staged');
    const files = git(dir, 'ls-tree', '--name-only', 'eh/exp1').split('\n');
    assert.ok(!files.includes('gone.ts'), 'the deletion is in the snapshot');
    assert.ok(!files.includes('secret.env'), 'ignored files stay out');
    // The user's checkout: same HEAD, same branch, same index, same status, same files.
    assert.equal(git(dir, 'rev-parse', 'HEAD'), head);
    assert.equal(git(dir, 'rev-parse', '--abbrev-ref', 'HEAD'), 'main');
    assert.equal(git(dir, 'status', '--porcelain'), status);
    assert.deepEqual(readFileSync(join(dir, '.git', 'index')), indexBefore);
    assert.equal(readFileSync(join(dir, 'train.ts'), 'utf8'), 'v2 uncommitted\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a clean tree snapshots to a commit with HEAD\'s tree; a directory outside git is a SLURMError', async () => {
  const dir = repo();
  const plain = mkdtempSync(join(tmpdir(), 'eh-nogit-'));
  try {
    const snap = await snapshotWorkingTree(dir, 'eh/clean', 'm');
    assert.equal(snap.dirty, false);
    assert.equal(git(dir, 'rev-parse', 'eh/clean^{tree}'), git(dir, 'rev-parse', 'HEAD^{tree}'));
    await assert.rejects(snapshotWorkingTree(plain, 'eh/x', 'm'), (e: unknown) => e instanceof SLURMError && /git rev-parse --show-toplevel failed/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(plain, { recursive: true, force: true });
  }
});

test('dry runs write each experiment directory (config, script) and a job array script, and submit nothing', async () => {
  const dir = repo();
  try {
    const launcher = new SLURMLauncher({ projectRoot: dir, ehCommand: ['node', '/opt/eh/main.js'] });
    const one = await launcher.submitSingleExperiment({ config: { experimentName: 'solo', optimizer: { lr: 0.01 } }, scriptPath: 'train.ts', dryRun: true, useGitBranch: true });
    assert.equal(one.success, true);
    assert.equal(one.jobId, undefined);
    assert.equal(one.gitBranch, 'eh/solo');
    assert.throws(() => git(dir, 'rev-parse', '--verify', 'eh/solo'), 'a dry run makes no branch');
    assert.equal(parse(readFileSync(one.configPath, 'utf8')).optimizer.lr, 0.01);
    const script = readFileSync(one.scriptPath, 'utf8');
    assert.match(script, /^#SBATCH --output=.*experiments\/solo\/slurm_%j\.out$/m);
    assert.match(script, /EH=\(node \/opt\/eh\/main\.js\)/);

    const batch = await launcher.submitExperimentBatch({
      experiments: [{ experimentName: 'a' }, { experimentName: 'b' }, { experimentName: 'bad name!' }],
      scriptPath: 'train.ts',
      maxConcurrent: 2,
      dryRun: true,
      batchName: 'ab',
    });
    assert.equal(batch.totalExperiments, 3);
    assert.equal(batch.successCount, 2);
    assert.equal(batch.failureCount, 1);
    assert.ok(Math.abs(batch.successRate - 2 / 3) < 1e-12);
    assert.match(batch.errors['bad name!'], /experimentName/);
    const array = readFileSync(batch.arrayScriptPath!, 'utf8');
    assert.match(array, /^#SBATCH --job-name=ab$/m);
    assert.match(array, /^#SBATCH --output=.*_batches\/ab\/slurm_%A_%a\.out$/m);
    assert.match(array, /0\) exec \/bin\/bash .*experiments\/a\/job\.sbatch ;;/);
    assert.match(array, /1\) exec \/bin\/bash .*experiments\/b\/job\.sbatch ;;/);
    assert.ok(existsSync(join(dir, 'experiments', 'b', 'config.yaml')));

    await assert.rejects(
      launcher.submitExperimentBatch({ experiments: [{ experimentName: 'x', slurm: { time: '1' } }, { experimentName: 'y', slurm: { time: '2' } }], scriptPath: 't', dryRun: true }),
      (e: unknown) => e instanceof ConfigurationError && /differ in slurm\.time/.test(e.message),
    );
    await assert.rejects(launcher.submitExperimentBatch({ experiments: [], scriptPath: 't', maxConcurrent: 0 }), /maxConcurrent must be an integer >= 1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('useGitBranch: the job runs from an export of the snapshot; without sbatch on PATH, a SLURMError says so', async () => {
  const dir = repo();
  try {
    writeFileSync(join(dir, 'train.ts'), 'v3 uncommitted\n');
    const empty = join(dir, 'empty-bin');
    mkdirSync(empty);
    const launcher = new SLURMLauncher({ projectRoot: dir, env: { ...process.env, PATH: empty } });
    // PATH without sbatch (git is found through the launcher's own environment, not this one).
    await assert.rejects(launcher.submitSingleExperiment({ config: { experimentName: 'snap' }, scriptPath: 'train.ts', useGitBranch: true }), (e: unknown) => e instanceof SLURMError && /sbatch was not found on PATH/.test(e.message));
    const code = join(dir, 'experiments', 'snap', 'code');
    assert.equal(readFileSync(join(code, 'train.ts'), 'utf8'), 'v3 uncommitted\n');
    assert.match(readFileSync(join(dir, 'experiments', 'snap', 'job.sbatch'), 'utf8'), new RegExp(`cd ${code.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\|\\| exit 1`));
    assert.equal(git(dir, 'show', 'eh/snap:train.ts'), 'v3 uncommitted');
    assert.equal(git(dir, 'rev-parse', '--abbrev-ref', 'HEAD'), 'main');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SLURMError } from './errors.js';

export interface GitSnapshot {
  branch: string;
  commit: string;
  /** The commit HEAD pointed at (undefined in a repository without commits). */
  parent?: string;
  /** Whether the working tree differed from HEAD (uncommitted or untracked changes went into the snapshot). */
  dirty: boolean;
}

function git(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err === null) resolve(String(stdout).trim());
      else if ((err as NodeJS.ErrnoException).code === 'ENOENT') reject(new SLURMError('git was not found on PATH', { command: `git ${args.join(' ')}`, suggestions: ['Install git, or submit without useGitBranch.'] }));
      else reject(new SLURMError(`git ${args.join(' ')} failed in ${cwd}: ${String(stderr).trim() || err.message}`, { command: `git ${args.join(' ')}`, stderr: String(stderr), suggestions: ['Check that the project root is a git repository, or submit without useGitBranch.'] }));
    });
  });
}

/** `eh/<experiment>`; refused unless git accepts it as a branch name. */
export async function snapshotBranchName(experimentName: string, cwd: string): Promise<string> {
  const branch = `eh/${experimentName}`;
  await git(['check-ref-format', '--branch', branch], cwd).catch(() => {
    throw new SLURMError(`${JSON.stringify(branch)} is not a valid git branch name`, { suggestions: ['Rename the experiment (no "..", no trailing ".lock").'] });
  });
  return branch;
}

/**
 * Commits the working tree as it is (tracked changes, deletions and untracked files that .gitignore does not
 * ignore) to `branch`, without touching the user's checkout: the files are staged into a temporary index
 * (GIT_INDEX_FILE, a copy of the real one so unchanged files are not hashed again), written as a tree, committed
 * with HEAD as parent and the branch set to that commit with update-ref. HEAD, the real index and the working
 * files stay as they were.
 */
export async function snapshotWorkingTree(projectRoot: string, branch: string, message: string): Promise<GitSnapshot> {
  const top = await git(['rev-parse', '--show-toplevel'], projectRoot);
  const gitDir = await git(['rev-parse', '--absolute-git-dir'], top);
  const tmp = mkdtempSync(join(tmpdir(), 'eh-snapshot-'));
  try {
    const index = join(tmp, 'index');
    if (existsSync(join(gitDir, 'index'))) copyFileSync(join(gitDir, 'index'), index);
    const env: NodeJS.ProcessEnv = { ...process.env, GIT_INDEX_FILE: index };
    // commit-tree needs an identity; a repository without one still gets its snapshot.
    env.GIT_AUTHOR_NAME ??= 'elastic-harness';
    env.GIT_AUTHOR_EMAIL ??= 'eh@localhost';
    env.GIT_COMMITTER_NAME ??= env.GIT_AUTHOR_NAME;
    env.GIT_COMMITTER_EMAIL ??= env.GIT_AUTHOR_EMAIL;
    await git(['add', '-A', '--', '.'], top, env);
    const tree = await git(['write-tree'], top, env);
    const parent = await git(['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'], top).catch(() => undefined);
    const parentTree = parent !== undefined ? await git(['rev-parse', `${parent}^{tree}`], top) : undefined;
    const commit = await git(['commit-tree', tree, ...(parent !== undefined ? ['-p', parent] : []), '-m', message], top, env);
    await git(['update-ref', '-m', message, `refs/heads/${branch}`, commit], top);
    return { branch, commit, parent, dirty: tree !== parentTree };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Writes the files of `commit` into `dir` (git archive | tar -x), for a job to run exactly that code. */
export async function exportCommit(projectRoot: string, commit: string, dir: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const cmd = `git -C "$1" archive --format=tar "$2" | tar -x -C "$3"`;
    execFile('/bin/sh', ['-c', cmd, 'sh', projectRoot, commit, dir], { maxBuffer: 16 * 1024 * 1024 }, (err, _o, stderr) => {
      if (err === null) resolve();
      else reject(new SLURMError(`Cannot export commit ${commit} to ${dir}: ${String(stderr).trim() || err.message}`, { suggestions: ['Check the disk space and permissions of the experiments directory.'] }));
    });
  });
}

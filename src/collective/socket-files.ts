/**
 * The Unix socket file each rank listens on for its peers on the same host. Its name carries the owner's
 * pid, so a file left behind by a rank that died without running its exit handlers (SIGINT, SIGKILL) can be
 * told from a live one and swept: by every rank when it makes its own, and by the agent when it ends.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pidAlive } from './shm/segments.js';

const NAME = /^eh-c-(\d+)-[0-9a-f]{12}-\d+\.sock$/;
// sun_path holds 107 bytes; a longer path falls back to /tmp.
const MAX_PATH = 100;

function socketDir(tmp: string): string {
  return path.join(tmp, 'eh-c-0000000000-000000000000-0000.sock').length <= MAX_PATH ? tmp : '/tmp';
}

/** Where rank `rank` of group `groupId` in this process listens. */
export function socketPathFor(groupId: string, rank: number, tmp = os.tmpdir()): string {
  const tag = createHash('sha256').update(groupId).digest('hex').slice(0, 12);
  return path.join(socketDir(tmp), `eh-c-${String(process.pid)}-${tag}-${String(rank)}.sock`);
}

/**
 * Remove the socket files of ranks whose process is gone, in `tmp` (where they were made) and /tmp.
 * Only sockets this user owns are touched; a live process's file never is, nor any file of another name.
 * Answers how many were removed.
 */
export function sweepStaleSockets(tmp = os.tmpdir()): number {
  const uid = process.getuid?.();
  let removed = 0;
  for (const dir of new Set([socketDir(tmp), '/tmp'])) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const m = NAME.exec(name);
      if (m === null || pidAlive(Number(m[1]))) continue;
      const file = path.join(dir, name);
      try {
        const st = lstatSync(file);
        if (!st.isSocket() || (uid !== undefined && st.uid !== uid)) continue;
        unlinkSync(file);
        removed++;
      } catch {
        // gone already (another rank swept it) or not ours to remove
      }
    }
  }
  return removed;
}

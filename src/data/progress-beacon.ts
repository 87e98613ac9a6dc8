import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The last sign of life of one rank: when it finished which optimizer step, in a world of which size. */
export interface ProgressRecord {
  /** Unix seconds. */
  time: number;
  step: number;
  worldSize: number;
}

/**
 * Where ranks leave their last progress, so that after a failure the restarted workers know when the old
 * ones stopped: the failure happened between the newest record and the restart. A worker killed with
 * SIGKILL cannot say when it died; the last step it (or a peer) finished is the closest time that survives.
 */
export interface ProgressBeacon {
  write(rank: number, record: ProgressRecord): void;
  /** The newest record any rank left here, or null. */
  latest(): ProgressRecord | null;
}

function isRecord(v: unknown): v is ProgressRecord {
  const r = v as Partial<ProgressRecord> | null;
  return r !== null && typeof r === 'object' && typeof r.time === 'number' && Number.isFinite(r.time) && Number.isSafeInteger(r.step) && Number.isSafeInteger(r.worldSize);
}

/**
 * One small file per rank in a directory (by default the checkpoint directory's `.eh-progress`). Written
 * without fsync: it must survive the process, not the machine, and a torn file is simply ignored.
 */
export class FileProgressBeacon implements ProgressBeacon {
  readonly dir: string;
  private made = false;

  constructor(dir: string) {
    this.dir = dir;
  }

  write(rank: number, record: ProgressRecord): void {
    if (!this.made) {
      mkdirSync(this.dir, { recursive: true });
      this.made = true;
    }
    writeFileSync(join(this.dir, `rank-${rank}.json`), JSON.stringify(record));
  }

  latest(): ProgressRecord | null {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => /^rank-\d+\.json$/.test(n));
    } catch {
      return null;
    }
    let best: ProgressRecord | null = null;
    for (const n of names) {
      try {
        const r = JSON.parse(readFileSync(join(this.dir, n), 'utf8')) as unknown;
        if (isRecord(r) && (best === null || r.time > best.time)) best = r;
      } catch {
        // A file cut by the kill mid-write: the other ranks' records still tell the time.
      }
    }
    return best;
  }
}

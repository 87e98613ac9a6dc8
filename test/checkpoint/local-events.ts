// The events test/checkpoint/local-worker.ts writes, read back by the local-checkpoint tests.
import { existsSync, readFileSync } from 'node:fs';

export interface LocalEvent {
  t: string;
  rank: number;
  restart: number;
  pid: number;
  iteration?: number;
  latest?: number;
  equal?: boolean;
  files?: number;
  error?: string;
  name?: string;
  waitingFor?: number[];
  incomplete?: { iteration: number; missingParts: number[] }[];
}

export function readEvents(file: string): LocalEvent[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as LocalEvent);
}

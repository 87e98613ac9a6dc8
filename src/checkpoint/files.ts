import path from 'node:path';
import { CheckpointLoadConfig } from './load-config.js';
import { readLocalCheckpoint } from './local-read.js';
import { writeLocalCheckpoint } from './local-write.js';
import { assertValidName } from './names.js';
import { planCheckpoint } from './plan.js';
import type { StateValue } from './state-dict.js';

/** Saves any state tree as a checkpoint directory `dir`, synchronously durable and atomic. */
export async function saveStateDict(stateDict: StateValue, dir: string, options: { step?: number; fsync?: boolean } = {}): Promise<string> {
  const name = path.basename(dir);
  assertValidName(name);
  const { plan, sources } = planCheckpoint(stateDict, { step: options.step ?? 0 });
  return writeLocalCheckpoint(path.dirname(path.resolve(dir)), name, plan, sources, { fsync: options.fsync });
}

/** Loads and verifies the checkpoint directory `dir` as a state tree. */
export async function loadStateDict(dir: string, config: CheckpointLoadConfig = new CheckpointLoadConfig()): Promise<StateValue> {
  return (await readLocalCheckpoint(path.resolve(dir), config)).state;
}

import { CheckpointSaveError } from '../errors/index.js';

/** A memory snapshot larger than the memory tier may ever hold (maxMemoryMb). */
export class MemoryLimitExceeded extends CheckpointSaveError {
  readonly requestedBytes: number;
  readonly availableBytes: number;

  constructor(requestedBytes: number, availableBytes: number) {
    super(`A memory snapshot needs ${requestedBytes} bytes but the memory tier may hold at most ${availableBytes}`, {
      tier: 'MEMORY',
      suggestions: ['Raise maxMemoryMb (under `eh run`, where the agent holds the tier: the node\'s bound, `eh run --memory-limit MiB`), or snapshot to NVME instead of MEMORY for a state this large.'],
    });
    this.requestedBytes = requestedBytes;
    this.availableBytes = availableBytes;
  }
}

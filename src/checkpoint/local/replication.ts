import { ConfigurationError } from '../../errors/index.js';

/** How parts are replicated: which ranks hold a copy of each rank's part (NVRx's ReplicationStrategy). */
export interface ReplicationStrategy {
  readonly replicationFactor: number;
  readonly replicationJump: number;
  /** The ranks that hold `rank`'s part (its clique, `rank` included), ascending. Throws ConfigurationError if the world does not fit. */
  cliqueOf(rank: number, worldSize: number): number[];
}

export interface CliqueReplicationStrategyOptions {
  /** Ranks per clique, each holding every member's part (default 2). */
  replicationFactor?: number;
  /** Distance between the ranks of a clique (default 1): 1 makes {0,1},{2,3}; 2 makes {0,2},{1,3}. */
  replicationJump?: number;
}

function positiveInt(v: unknown, key: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new ConfigurationError(`${key} must be a whole number >= 1, got ${JSON.stringify(v)}`, { configKey: key });
  }
  return v;
}

/**
 * Cliques of `replicationFactor` ranks `replicationJump` apart (NVRx's CliqueReplicationStrategy): ranks are cut
 * into blocks of factor × jump; inside a block, rank b·f·j + c + i·j (i < f) form clique c. With one node per
 * `jump` ranks (jump = ranks per node), the members of a clique sit on different nodes.
 */
export class CliqueReplicationStrategy implements ReplicationStrategy {
  readonly replicationFactor: number;
  readonly replicationJump: number;

  constructor(options: CliqueReplicationStrategyOptions = {}) {
    this.replicationFactor = positiveInt(options.replicationFactor ?? 2, 'replicationFactor');
    this.replicationJump = positiveInt(options.replicationJump ?? 1, 'replicationJump');
  }

  /** Throws unless factor × jump divides the world, naming the numbers and what would fit. */
  checkWorld(worldSize: number): void {
    const f = this.replicationFactor;
    const j = this.replicationJump;
    if (worldSize % (f * j) !== 0) {
      throw new ConfigurationError(
        `replicationFactor ${String(f)} × replicationJump ${String(j)} = ${String(f * j)} does not divide the world size ${String(worldSize)}: the ranks cannot be cut into cliques of ${String(f)} ranks ${String(j)} apart`,
        { configKey: 'replStrategy', suggestions: [`Choose a factor and jump whose product divides ${String(worldSize)} (e.g. factor 2 with jump ${String(Math.max(1, Math.floor(worldSize / 2)))} if that divides it), or run a world that is a multiple of ${String(f * j)}.`] },
      );
    }
  }

  cliqueOf(rank: number, worldSize: number): number[] {
    positiveInt(worldSize, 'worldSize');
    if (!Number.isSafeInteger(rank) || rank < 0 || rank >= worldSize) throw new ConfigurationError(`rank must be in 0..${String(worldSize - 1)}, got ${String(rank)}`, { configKey: 'rank' });
    this.checkWorld(worldSize);
    const f = this.replicationFactor;
    const j = this.replicationJump;
    const block = Math.floor(rank / (f * j)) * f * j;
    const c = (rank - block) % j;
    return Array.from({ length: f }, (_, i) => block + c + i * j);
  }
}

/**
 * What the agent needs of a rendezvous. The dynamic backends (tcp, etcd) use the rendezvous part's
 * RendezvousHandler; a fixed world (--standalone, --rdzv-backend static) uses StaticRendezvous below.
 */
import { z } from 'zod';
import { DistributedSetupError } from '../errors/index.js';
import type { Store } from '../rendezvous/index.js';
import { parseStored } from './job-record.js';

const participantSchema = z.object({ nodeId: z.string(), addr: z.string(), rank: z.number().int().nonnegative(), localWorldSize: z.number().int().positive().optional() });

/** A stored counter: absent is `absent`, anything but a whole number >= -1 is an error naming the key. */
function readCount(key: string, raw: string | undefined, absent: number): number {
  if (raw === undefined) return absent;
  if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(Number(raw)) || Number(raw) < -1) throw new DistributedSetupError(`the store's ${key} is not a count: ${JSON.stringify(raw.slice(0, 40))}`);
  return Number(raw);
}

export interface RoundParticipant {
  nodeId: string;
  addr: string;
  rank: number;
  localWorldSize?: number;
}

export interface RoundInfo {
  round: number;
  nodeRank: number;
  nodeCount: number;
  participants: RoundParticipant[];
  /** Key prefix unique to this round. */
  storePrefix: string;
}

export interface AgentRendezvous {
  nextRendezvous(extra: { localWorldSize: number }): Promise<RoundInfo>;
  numNodesWaiting(): Promise<number>;
  isRoundStale(): Promise<boolean>;
  incrementRestartCount(): Promise<number>;
  getRestartCount(): Promise<number>;
  setClosed(): Promise<void>;
  isClosed(): Promise<boolean>;
  shutdown(): Promise<void>;
}

export interface StaticRendezvousOptions {
  runId: string;
  nodeCount: number;
  nodeRank: number;
  nodeId: string;
  addr: string;
  joinTimeoutMs: number;
}

/**
 * torch's static rendezvous: a fixed number of nodes with fixed ranks. Each attempt is a round; a node
 * that restarts its workers posts the next round, which makes the others' round stale, so all restart.
 */
export class StaticRendezvous implements AgentRendezvous {
  private round = -1;
  /** The round a join that failed part-way (the store was unreachable) was after: a retry joins it, not the one after. */
  private unfinished: number | undefined;

  constructor(private readonly store: Store, private readonly o: StaticRendezvousOptions) {}

  private key(s: string): string {
    return `${this.o.runId}/static/${s}`;
  }

  async nextRendezvous(extra: { localWorldSize: number }): Promise<RoundInfo> {
    if (await this.isClosed()) throw new DistributedSetupError(`The rendezvous of run ${this.o.runId} is closed (the job finished or failed)`);
    // Join the newest round any node has reached, so a restarted node does not lag behind.
    this.round = this.unfinished ?? this.round + 1;
    this.unfinished = this.round;
    while (true) {
      const cur = await this.store.get(this.key('latest'));
      const curN = readCount(this.key('latest'), cur, -1);
      if (curN >= this.round) {
        this.round = curN;
        break;
      }
      if ((await this.store.compareAndSet(this.key('latest'), cur, String(this.round))).ok) break;
    }
    this.unfinished = this.round;
    const me: RoundParticipant = { nodeId: this.o.nodeId, addr: this.o.addr, rank: this.o.nodeRank, localWorldSize: extra.localWorldSize };
    await this.store.set(this.key(`round/${this.round}/node/${this.o.nodeRank}`), JSON.stringify(me));
    const keys = Array.from({ length: this.o.nodeCount }, (_, r) => this.key(`round/${this.round}/node/${r}`));
    await this.store.wait(keys, this.o.joinTimeoutMs);
    const participants: RoundParticipant[] = [];
    for (const k of keys) {
      const raw = await this.store.get(k);
      if (raw === undefined) throw new DistributedSetupError(`${k} vanished from the store during the rendezvous`);
      participants.push(parseStored(k, raw, participantSchema));
    }
    this.unfinished = undefined;
    return { round: this.round, nodeRank: this.o.nodeRank, nodeCount: this.o.nodeCount, participants, storePrefix: `${this.o.runId}/r${this.round}` };
  }

  async numNodesWaiting(): Promise<number> {
    return 0;
  }

  async isRoundStale(): Promise<boolean> {
    return readCount(this.key('latest'), await this.store.get(this.key('latest')), -1) > this.round;
  }

  async incrementRestartCount(): Promise<number> {
    return this.store.add(`${this.o.runId}/restart_count`, 1);
  }

  async getRestartCount(): Promise<number> {
    const key = `${this.o.runId}/restart_count`;
    return readCount(key, await this.store.get(key), 0);
  }

  async setClosed(): Promise<void> {
    await this.store.set(this.key('closed'), '1');
  }

  async isClosed(): Promise<boolean> {
    return (await this.store.get(this.key('closed'))) === '1';
  }

  async shutdown(): Promise<void> {
    // Nothing held: no keep-alive in a static world.
  }
}

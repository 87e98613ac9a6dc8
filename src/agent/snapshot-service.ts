/**
 * The agent-held MEMORY tier as a service: answers this node's workers (IPC, see checkpoint/agent-memory), keeps
 * their snapshots in the SnapshotStore, sends each new one to one peer node's agent (the other member of its
 * pair: node ranks {0,1}, {2,3}, ...; an odd last node pairs with node 0), and answers other agents (list, fetch,
 * receive a copy) over the token-authenticated peer link. A worker on any node can so find a snapshot whose
 * node is gone.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type net from 'node:net';
import { isSnapshotRequest, type SnapshotListing, type SnapshotReply, type SnapshotRequest } from '../checkpoint/index.js';
import type { Store } from '../rendezvous/index.js';
import type { RoundInfo } from './agent-rendezvous.js';
import { connectPeer, PeerServer, writeHeader, writePayload, type PeerEndpoint, type PeerHeader, type SocketReader } from './snapshot-peers.js';
import { SnapshotFullError, SnapshotStore, type HeldSnapshot } from './snapshot-store.js';
import type { WorkerProcess } from './worker-process.js';

export interface SnapshotServiceOptions {
  nodeId: string;
  limitBytes: number;
  /** Bytes held by the agent's other memory (agentMemory blobs), counted in the same bound. */
  otherBytes: () => number;
  log: (line: string) => void;
  runId: string;
}

interface Round {
  info: RoundInfo;
  kv: Store;
  token: string;
}

const PEER_TIMEOUT_MS = 5000;
const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;

function str(h: PeerHeader, k: string): string {
  const v = h[k];
  if (typeof v !== 'string') throw new Error(`peer request ${h.op}: ${k} is not a string`);
  return v;
}

function int(h: PeerHeader, k: string): number {
  const v = h[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`peer request ${h.op}: ${k} is not a count`);
  return v;
}

function offsetsOf(v: unknown): Record<string, number> {
  if (typeof v !== 'object' || v === null) throw new Error('peer request: offsets is not an object');
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(v)) {
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new Error(`peer request: offset of ${k} is not a count`);
    out[k] = n;
  }
  return out;
}

export class SnapshotService {
  readonly store: SnapshotStore;
  private round: Round | undefined;
  private server: PeerServer | undefined;
  private endpoint: PeerEndpoint | undefined;
  /** Copies to the peer go one after another, each newest-first (an older one still queued is skipped). */
  private sending: Promise<void> = Promise.resolve();

  constructor(private readonly o: SnapshotServiceOptions) {
    this.store = new SnapshotStore(o.nodeId, o.limitBytes, o.otherBytes, o.log);
  }

  /** A new round: serve the peer link (multi-node), publish where, and learn the new pair. */
  async onRound(info: RoundInfo, kv: Store, token: string, host: string): Promise<void> {
    this.round = { info, kv, token };
    if (info.nodeCount < 2) return;
    if (this.server === undefined) {
      this.server = new PeerServer(token, this.o.runId, (h, r, s, from) => this.handlePeer(h, r, s, from), this.o.log);
      const loopback = host.startsWith('127.') || host === 'localhost' || host === '::1';
      const port = await this.server.listen(loopback ? host : '0.0.0.0');
      this.endpoint = { nodeId: this.o.nodeId, host, port };
    }
    await kv.set(this.peerKey(info, info.nodeRank), JSON.stringify(this.endpoint));
  }

  close(): void {
    this.server?.close();
    this.store.close();
  }

  private peerKey(info: RoundInfo, nodeRank: number): string {
    return `${info.storePrefix}/eh/mem-peer/${nodeRank}`;
  }

  /** The node rank this node's snapshots are copied to, or undefined alone. */
  partner(info: RoundInfo): number | undefined {
    if (info.nodeCount < 2) return undefined;
    const p = info.nodeRank ^ 1;
    return p < info.nodeCount ? p : (info.nodeRank + 1) % info.nodeCount;
  }

  private async endpointOf(r: Round, nodeRank: number, waitMs: number): Promise<PeerEndpoint | undefined> {
    const key = this.peerKey(r.info, nodeRank);
    if (waitMs > 0) await r.kv.wait([key], waitMs).catch(() => undefined);
    const raw = await r.kv.get(key).catch(() => undefined);
    if (raw === undefined) return undefined;
    const v = JSON.parse(raw) as Partial<PeerEndpoint>;
    return typeof v.host === 'string' && typeof v.port === 'number' && typeof v.nodeId === 'string' ? { nodeId: v.nodeId, host: v.host, port: v.port } : undefined;
  }

  private async others(r: Round): Promise<PeerEndpoint[]> {
    const ranks = Array.from({ length: r.info.nodeCount }, (_, i) => i).filter((i) => i !== r.info.nodeRank);
    const eps = await Promise.all(ranks.map((i) => this.endpointOf(r, i, 0)));
    return eps.filter((e): e is PeerEndpoint => e !== undefined && e.nodeId !== this.o.nodeId);
  }

  /** One request to a peer agent; `body` writes its payload, `reply` reads the answer (header first). */
  private async ask<T>(r: Round, p: PeerEndpoint, h: PeerHeader, reply: (h: PeerHeader, reader: SocketReader) => Promise<T>, body?: (s: net.Socket) => Promise<void>): Promise<T> {
    const { socket, reader } = await connectPeer(p, r.token, this.o.runId, this.o.nodeId, PEER_TIMEOUT_MS);
    try {
      writeHeader(socket, h);
      if (body !== undefined) await body(socket);
      const a = await reader.header();
      if (a.op === 'error') throw new Error(`the agent of node ${p.nodeId}: ${String(a.error)}`);
      return await reply(a, reader);
    } finally {
      socket.destroy();
    }
  }

  // ---- this node's workers ----

  serve(w: WorkerProcess, m: SnapshotRequest): void {
    const reply = (r: Omit<SnapshotReply, 'eh' | 'id'>): void => {
      w.send({ eh: 'ckpt-mem-reply', id: m.id, ...r });
    };
    this.answer(m).then(
      (r) => reply({ ok: true, ...r }),
      (err: unknown) => {
        const tooLarge = m.op === 'alloc' && err instanceof SnapshotFullError && m.bytes > this.o.limitBytes ? { bytes: m.bytes, limit: this.o.limitBytes } : undefined;
        reply({ ok: false, error: err instanceof Error ? err.message : String(err), tooLarge });
      },
    );
  }

  private async answer(m: SnapshotRequest): Promise<Omit<SnapshotReply, 'eh' | 'id' | 'ok'>> {
    const s = this.store;
    switch (m.op) {
      case 'alloc':
        return { path: s.allocate(m.rank, m.name, m.step, m.bytes).path };
      case 'commit': {
        const sealed = s.commit(m.rank, m.name, m.plan, m.offsets);
        sealed.then(
          (snap) => this.replicate(snap),
          (err: unknown) => this.o.log(`memory tier: ${m.name} of rank ${m.rank} could not be checksummed and is dropped: ${err instanceof Error ? err.message : String(err)}`),
        );
        return {};
      }
      case 'abort':
        s.remove((x) => x.rank === m.rank && x.name === m.name && x.origin === this.o.nodeId && x.manifest === undefined);
        return {};
      case 'list':
        await s.settled();
        return { list: [...s.listing(m.rank), ...(await this.remoteListing(m.rank))] };
      case 'open': {
        await s.settled();
        const local = m.node === this.o.nodeId ? s.find(m.rank, m.name) : undefined;
        if (m.node === this.o.nodeId && local === undefined) throw new Error(`this node's agent holds no snapshot ${m.name} of rank ${m.rank}`);
        const snap = local ?? (await this.fetch(m.rank, m.name, m.node));
        return { opened: { path: snap.path, manifest: snap.manifest!, offsets: snap.offsets!, bytes: snap.bytes, holder: snap.origin === this.o.nodeId ? 'agent' : 'peer-agent', node: m.node, origin: snap.origin } };
      }
      case 'discard': {
        this.o.log(`memory tier: a worker refused the copy of ${m.name} of rank ${m.rank} held by node ${m.node} (${m.reason}): it is dropped`);
        s.remove((x) => x.rank === m.rank && x.name === m.name && (m.node === this.o.nodeId || x.fetchedFrom === m.node));
        const r = this.round;
        if (m.node !== this.o.nodeId && r !== undefined) {
          const p = (await this.others(r)).find((e) => e.nodeId === m.node);
          if (p !== undefined) await this.ask(r, p, { op: 'discard', rank: m.rank, name: m.name, reason: m.reason }, async () => undefined).catch(() => undefined);
        }
        return {};
      }
      case 'delete': {
        const gone = s.remove((x) => x.rank === m.rank && x.name === m.name);
        for (const g of gone.filter((x) => x.origin === this.o.nodeId && x.sentTo !== undefined)) this.enqueue(() => this.deleteAtPeer(g));
        return {};
      }
    }
  }

  private async remoteListing(rank: number): Promise<SnapshotListing[]> {
    const r = this.round;
    if (r === undefined || r.info.nodeCount < 2) return [];
    const lists = await Promise.all(
      (await this.others(r)).map((p) =>
        this.ask(r, p, { op: 'list', rank }, async (a) => (Array.isArray(a.list) ? (a.list as SnapshotListing[]) : [])).catch((err: unknown) => {
          this.o.log(`memory tier: cannot list the snapshots of node ${p.nodeId}: ${err instanceof Error ? err.message : String(err)}`);
          return [];
        }),
      ),
    );
    return lists.flat().map((l) => ({ ...l, holder: 'peer-agent' as const }));
  }

  /** Copies a snapshot held by another node's agent into this node's tmpfs (it is then held here too). */
  private async fetch(rank: number, name: string, node: string): Promise<HeldSnapshot> {
    const r = this.round;
    const p = r === undefined ? undefined : (await this.others(r)).find((e) => e.nodeId === node);
    if (r === undefined || p === undefined) throw new Error(`node ${node} is not in this round: its agent cannot be reached`);
    const t0 = performance.now();
    const snap = await this.ask(r, p, { op: 'get', rank, name }, async (a, reader) => {
      const bytes = int(a, 'bytes');
      const held = this.store.allocate(rank, name, int(a, 'step'), bytes, str(a, 'origin'));
      held.fetchedFrom = node;
      await this.receive(held, reader, bytes, str(a, 'manifest'), offsetsOf(a.offsets));
      return held;
    });
    this.o.log(`memory tier: fetched ${name} of rank ${rank} (${mib(snap.bytes)}) from the agent of node ${node} in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    return snap;
  }

  private async receive(held: HeldSnapshot, reader: SocketReader, bytes: number, manifest: string, offsets: Record<string, number>): Promise<void> {
    try {
      const fd = openSync(held.path, 'r+');
      try {
        await reader.payload(bytes, (chunk, at) => {
          for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done, chunk.length - done, at + done);
        });
      } finally {
        closeSync(fd);
      }
      this.store.adopt(held, manifest, offsets);
    } catch (err) {
      this.store.remove((x) => x === held);
      throw err;
    }
  }

  private async send(socket: net.Socket, snap: HeldSnapshot): Promise<void> {
    const fh = await open(snap.path, 'r');
    try {
      await writePayload(socket, async (at, max) => {
        const b = Buffer.allocUnsafe(max);
        const { bytesRead } = await fh.read(b, 0, max, at);
        return b.subarray(0, bytesRead);
      }, snap.bytes);
    } finally {
      await fh.close();
    }
  }

  // ---- the copy on the peer node ----

  private enqueue(job: () => Promise<void>): void {
    this.sending = this.sending.then(job).catch(() => undefined);
  }

  private replicate(snap: HeldSnapshot): void {
    this.enqueue(async () => {
      const r = this.round;
      const newest = this.store.whole(snap.rank).find((x) => x.origin === this.o.nodeId);
      if (r === undefined || newest !== snap) return;
      const partner = this.partner(r.info);
      if (partner === undefined) return;
      const t0 = performance.now();
      try {
        const p = await this.endpointOf(r, partner, PEER_TIMEOUT_MS);
        if (p === undefined) throw new Error(`node rank ${partner} published no address in round ${r.info.round}`);
        const h: PeerHeader = { op: 'put', rank: snap.rank, name: snap.name, step: snap.step, origin: snap.origin, manifest: snap.manifest, offsets: snap.offsets, bytes: snap.bytes };
        await this.ask(r, p, h, async () => undefined, (s) => this.send(s, snap));
        snap.sentTo = p.nodeId;
        this.o.log(`memory tier: ${snap.name} of rank ${snap.rank} (${mib(snap.bytes)}) copied to the agent of node ${p.nodeId} in ${((performance.now() - t0) / 1000).toFixed(2)} s; holding ${this.store.describeUsage()}`);
      } catch (err) {
        this.o.log(`memory tier: ${snap.name} of rank ${snap.rank} was not copied to a peer node (it survives this worker, not this node): ${err instanceof Error ? err.message : String(err)}`);
      }
    });
  }

  private async deleteAtPeer(g: HeldSnapshot): Promise<void> {
    const r = this.round;
    if (r === undefined) return;
    const p = (await this.others(r)).find((e) => e.nodeId === g.sentTo);
    if (p !== undefined) await this.ask(r, p, { op: 'delete', rank: g.rank, name: g.name, origin: g.origin }, async () => undefined).catch(() => undefined);
  }

  // ---- other agents ----

  private async handlePeer(h: PeerHeader, reader: SocketReader, socket: net.Socket, from: string): Promise<void> {
    const s = this.store;
    switch (h.op) {
      case 'put': {
        const bytes = int(h, 'bytes');
        const held = s.allocate(int(h, 'rank'), str(h, 'name'), int(h, 'step'), bytes, str(h, 'origin'));
        await this.receive(held, reader, bytes, str(h, 'manifest'), offsetsOf(h.offsets));
        writeHeader(socket, { op: 'ok' });
        return;
      }
      case 'list':
        await s.settled();
        writeHeader(socket, { op: 'list', list: s.listing(int(h, 'rank')) });
        return;
      case 'get': {
        await s.settled();
        const snap = s.find(int(h, 'rank'), str(h, 'name'));
        if (snap === undefined) throw new Error(`no snapshot ${str(h, 'name')} of rank ${int(h, 'rank')} is held here`);
        writeHeader(socket, { op: 'snapshot', step: snap.step, origin: snap.origin, manifest: snap.manifest, offsets: snap.offsets, bytes: snap.bytes });
        await this.send(socket, snap);
        return;
      }
      case 'delete':
        s.remove((x) => x.rank === int(h, 'rank') && x.name === str(h, 'name') && x.origin === str(h, 'origin'));
        writeHeader(socket, { op: 'ok' });
        return;
      case 'discard':
        this.o.log(`memory tier: node ${from} refused our copy of ${str(h, 'name')} of rank ${int(h, 'rank')} (${String(h.reason)}): it is dropped`);
        s.remove((x) => x.rank === int(h, 'rank') && x.name === str(h, 'name'));
        writeHeader(socket, { op: 'ok' });
        return;
      default:
        throw new Error(`unknown peer request ${h.op}`);
    }
  }
}

export { isSnapshotRequest };

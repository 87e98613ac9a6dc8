import { unlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { hostIdFrom } from '../env/index.js';
import { ConfigurationError, DistributedSetupError, describeError } from '../errors/index.js';
import { HELLO_BYTES, ackMac, checkHello, encodeHello, macEquals, MAC_BYTES } from './auth.js';
import { PeerLink } from './peer-link.js';
import { ProcessGroup, type ProcessGroupOptions } from './process-group.js';
import { SharedSegments, sharedMemoryCapable } from './shm/segments.js';
import { socketPathFor, sweepStaleSockets } from './socket-files.js';
import { Kind, encodeHeader, type Header } from './wire.js';

/** The part of the Store interface (src/rendezvous) the address exchange needs. */
export interface AddressStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
  wait(keys: string[], timeoutMs: number): Promise<void>;
}

export type Transport = 'auto' | 'tcp' | 'unix';

export interface MeshOptions extends ProcessGroupOptions {
  rank: number;
  worldSize: number;
  store: AddressStore;
  /** The job's token; every connection proves it. */
  token: string;
  /** Unique to this group (round prefix, restart count): binds the proofs and keys to it. */
  groupId: string;
  /** Ranks with the same host id talk over Unix sockets (default: EH_HOST_ID, else hostname + machine id + boot id + network namespace, see env/host-identity). */
  hostId?: string;
  /** `auto` (default): Unix sockets on one host, TCP across; `tcp`: TCP only; `unix`: fail unless all on one host. */
  transport?: Transport;
  /** Bound on the whole set-up, in ms (default 60 000). */
  setupTimeoutMs?: number;
  /** Address the TCP listener binds (default 0.0.0.0). */
  bindHost?: string;
  /** Address other hosts reach this rank at (default: EH_COLLECTIVE_ADDR, which the agent sets from --local-addr or the store's route, else the first non-internal IPv4, else 127.0.0.1). */
  advertiseHost?: string;
  /** Store key prefix for the addresses (default `collective/`). */
  keyPrefix?: string;
  /** Where refused connections are reported (default: a line on stderr). */
  log?: (line: string) => void;
}

interface PeerAddress {
  rank: number;
  hostId: string;
  host: string;
  port: number;
  unixPath?: string;
  pid: number;
  /** This rank can map shared segments (and wants to). */
  shm?: boolean;
}

function defaultAdvertiseHost(): string {
  const fromEnv = process.env.EH_COLLECTIVE_ADDR;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

function listen(server: net.Server, opts: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

const ackHeader = (): Header => ({ kind: Kind.Ack, userOp: 0, dtype: 0, redop: 0, algo: 0, step: 0, seq: 0, root: 0, count: 0, offset: 0, payloadBytes: MAC_BYTES });

/**
 * Build the full mesh: listen (Unix socket and TCP), publish both addresses in the store, read the
 * peers', connect to each (Unix socket when on the same host), and exchange proofs of the token.
 * Resolves once this rank has an authenticated connection to and from every peer.
 */
export async function createProcessGroup(o: MeshOptions): Promise<ProcessGroup> {
  const { rank, worldSize, token, groupId } = o;
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new ConfigurationError(`worldSize must be a positive integer, got ${String(worldSize)}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new ConfigurationError(`rank must be in 0..${String(worldSize - 1)}, got ${String(rank)}`);
  if (worldSize === 1) return ProcessGroup.single(o);
  if (typeof token !== 'string' || token === '') throw new ConfigurationError('createProcessGroup needs the job token', { suggestions: ['Set EH_TOKEN (eh run does).'] });
  const transport = o.transport ?? 'auto';
  const hostId = o.hostId ?? hostIdFrom();
  const setupTimeoutMs = o.setupTimeoutMs ?? 60_000;
  const deadline = Date.now() + setupTimeoutMs;
  const keyPrefix = o.keyPrefix ?? 'collective/';
  const log = o.log ?? ((line: string) => process.stderr.write(`[eh collective rank ${String(rank)}] ${line}\n`));
  const links: (PeerLink | undefined)[] = [];
  for (let p = 0; p < worldSize; p++) links.push(p === rank ? undefined : new PeerLink(p));

  // ---- listeners ----
  const servers: net.Server[] = [];
  const tcpServer = net.createServer();
  servers.push(tcpServer);
  let unixPath: string | undefined;
  let unixServer: net.Server | undefined;
  let accepted = 0;
  let onAccepted: () => void = () => undefined;
  const accept = (socket: net.Socket): void => {
    socket.setNoDelay(true);
    let buf = Buffer.alloc(0);
    const refuse = (reason: string): void => {
      log(`refused a connection from ${socket.remoteAddress ?? 'a local socket'}: ${reason}`);
      socket.destroy();
    };
    const timer = setTimeout(() => refuse('no hello in time'), Math.max(1000, Math.min(10_000, setupTimeoutMs)));
    timer.unref();
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < HELLO_BYTES) return;
      socket.off('data', onData);
      clearTimeout(timer);
      const check = checkHello(buf, token, groupId, worldSize);
      if (!check.ok) return refuse(check.reason);
      const link = links[check.rank];
      if (link === undefined) return refuse('a connection claiming to be this rank');
      if (link.outbound !== undefined) return refuse(`rank ${String(check.rank)} is already connected`);
      link.attachOut(socket, buf.subarray(HELLO_BYTES));
      socket.write(Buffer.concat([encodeHeader(ackHeader()), ackMac(token, groupId, rank, check.rank)]));
      accepted++;
      onAccepted();
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
  };
  tcpServer.on('connection', accept);
  try {
    await listen(tcpServer, { host: o.bindHost ?? '0.0.0.0', port: 0 });
    if (transport !== 'tcp') {
      sweepStaleSockets();
      unixPath = socketPathFor(groupId, rank);
      try {
        unlinkSync(unixPath);
      } catch {
        // absent: fine
      }
      unixServer = net.createServer(accept);
      servers.push(unixServer);
      await listen(unixServer, { path: unixPath });
    }
  } catch (err) {
    for (const s of servers) s.close();
    throw new DistributedSetupError(`rank ${String(rank)} could not listen for its peers: ${describeError(err)}`, { cause: err });
  }
  const unlinkSocket = (): void => {
    if (unixPath === undefined) return;
    try {
      unlinkSync(unixPath);
    } catch {
      // already gone
    }
  };
  // A worker that exits without cleanupDistributed() must not leave its socket file behind.
  process.once('exit', unlinkSocket);
  const closeServers = async (): Promise<void> => {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    unlinkSocket();
    process.off('exit', unlinkSocket);
  };

  let shm: SharedSegments | undefined;
  try {
    // ---- address exchange ----
    const tcpPort = (tcpServer.address() as net.AddressInfo).port;
    const wantShm = transport !== 'tcp' && o.sharedMemory !== false && sharedMemoryCapable();
    const me: PeerAddress = { rank, hostId, host: o.advertiseHost ?? defaultAdvertiseHost(), port: tcpPort, unixPath, pid: process.pid, shm: wantShm };
    const keyOf = (r: number): string => `${keyPrefix}addr/${String(r)}`;
    await o.store.set(keyOf(rank), JSON.stringify(me));
    const peerKeys = links.map((_l, p) => keyOf(p)).filter((_k, p) => p !== rank);
    try {
      await o.store.wait(peerKeys, Math.max(1, deadline - Date.now()));
    } catch (err) {
      const missing: number[] = [];
      for (let p = 0; p < worldSize; p++) if (p !== rank && (await o.store.get(keyOf(p)).catch(() => undefined)) === undefined) missing.push(p);
      throw new DistributedSetupError(`rank ${String(rank)} timed out after ${String(setupTimeoutMs)} ms waiting for the addresses of rank(s) ${missing.join(', ')}`, {
        cause: err,
        suggestions: ['Those workers did not start or did not call setupDistributedEnvironment(); check their logs.'],
      });
    }
    const addrs: PeerAddress[] = [];
    for (let p = 0; p < worldSize; p++) {
      if (p === rank) continue;
      const raw = await o.store.get(keyOf(p));
      if (raw === undefined) throw new DistributedSetupError(`the address of rank ${String(p)} vanished from the store`);
      addrs[p] = JSON.parse(raw) as PeerAddress;
    }
    if (transport === 'unix') {
      const far = addrs.filter((a) => a !== undefined && a.hostId !== hostId).map((a) => a.rank);
      if (far.length > 0) throw new ConfigurationError(`transport 'unix' needs every rank on one host, but rank(s) ${far.join(', ')} are on other hosts`, { suggestions: ["Use transport 'auto'."] });
    }

    // ---- connect to every peer, and wait for every peer to connect to us ----
    const allAccepted = new Promise<void>((resolve) => {
      onAccepted = () => {
        if (accepted === worldSize - 1) resolve();
      };
      onAccepted();
    });
    const connects: Promise<void>[] = [];
    const dialled = new Set<number>();
    for (let p = 0; p < worldSize; p++) {
      const link = links[p];
      if (link === undefined) continue;
      const a = addrs[p];
      const useUnix = transport !== 'tcp' && a.hostId === hostId && a.unixPath !== undefined;
      // Say what was compared: a wrong "same host" verdict is otherwise a bare ENOENT.
      const why = useUnix
        ? `over a Unix socket, since both have host id ${JSON.stringify(hostId)}; if they are different machines, give each its own EH_HOST_ID`
        : `over TCP at its advertised address (host ids ${JSON.stringify(a.hostId)} and ${JSON.stringify(hostId)} differ${transport === 'tcp' ? ', or transport tcp' : ''}); if that address is not reachable from here, set --local-addr or EH_COLLECTIVE_ADDR on rank ${String(p)}'s host`;
      connects.push(
        connectPeer(link, useUnix ? { path: a.unixPath as string } : { host: a.host, port: a.port }, { token, groupId, rank, worldSize, deadline, why }).then(() => {
          dialled.add(p);
        }),
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const notIn = links.filter((l) => l !== undefined && l.outbound === undefined).map((l) => (l as PeerLink).peer);
        const notOut = links.filter((l) => l !== undefined && !dialled.has(l.peer)).map((l) => (l as PeerLink).peer);
        const parts: string[] = [];
        if (notOut.length > 0) parts.push(`could not reach rank(s) ${notOut.map((p) => `${String(p)} at ${addrs[p].host}:${String(addrs[p].port)}`).join(', ')}`);
        if (notIn.length > 0) parts.push(`no connection from rank(s) ${notIn.join(', ')}`);
        reject(
          new DistributedSetupError(`rank ${String(rank)} (advertising ${me.host}) timed out after ${String(setupTimeoutMs)} ms connecting its process group: ${parts.join('; ')}`, {
            suggestions: ['An address a peer advertises must be reachable from every other host: give each agent --local-addr (its address on the data network), or set EH_COLLECTIVE_ADDR.'],
          }),
        );
      }, Math.max(1, deadline - Date.now()));
    });
    try {
      await Promise.race([Promise.all([...connects, allAccepted]), timeout]);
    } finally {
      clearTimeout(timer);
    }
    // Shared memory only when every rank is on this host and can map segments; otherwise, sockets for all.
    if (wantShm && addrs.every((a, p) => p === rank || (a.hostId === hostId && a.shm === true))) {
      shm = new SharedSegments(
        rank,
        links.map((_l, p) => (p === rank ? process.pid : addrs[p].pid)),
        groupId,
      );
    }
  } catch (err) {
    for (const l of links) {
      l?.inbound.kill();
      l?.inSocket?.destroy();
      l?.outbound?.socket.destroy();
    }
    await closeServers();
    throw err;
  }
  for (const s of servers) s.unref();
  for (const l of links) l?.unref();
  return new ProcessGroup(rank, worldSize, links, o, closeServers, shm);
}

interface ConnectCtx {
  token: string;
  groupId: string;
  rank: number;
  worldSize: number;
  deadline: number;
  /** How and why this peer is dialled the way it is, for the error. */
  why: string;
}

/** Open our connection to `link.peer`, send the hello, and check the peer's answer. Retries while the peer is not listening yet. */
async function connectPeer(link: PeerLink, where: { path: string } | { host: string; port: number }, c: ConnectCtx): Promise<void> {
  const desc = 'path' in where ? where.path : `${where.host}:${String(where.port)}`;
  for (;;) {
    try {
      await connectOnce(link, where, c);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const retry = (code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'ECONNRESET') && Date.now() + 100 < c.deadline;
      if (!retry) {
        throw new DistributedSetupError(`rank ${String(c.rank)} could not connect to rank ${String(link.peer)} at ${desc}: ${describeError(err)} (dialled ${c.why})`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function connectOnce(link: PeerLink, where: { path: string } | { host: string; port: number }, c: ConnectCtx): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const ackBuf = Buffer.allocUnsafe(MAC_BYTES);
    let answered = false;
    let settled = false;
    const settle = (err?: Error): void => {
      if (settled) return;
      settled = true;
      socket.off('close', onClose);
      if (err) {
        link.inbound.source = null;
        socket.destroy();
        reject(err);
      } else resolve();
    };
    link.inbound.source = {
      nextRecv: (peer) => {
        if (answered || peer !== link.peer) return null;
        answered = true;
        return {
          expect: ackHeader(),
          dest: ackBuf,
          done: () => {
            link.inbound.source = null;
            if (!macEquals(ackBuf, ackMac(c.token, c.groupId, link.peer, c.rank))) settle(new DistributedSetupError(`rank ${String(link.peer)} answered with a bad token proof`));
            else {
              link.attachIn(socket);
              settle();
            }
          },
        };
      },
    };
    const opts = { ...where, onread: link.inbound.onread() } as net.NetConnectOpts;
    const socket = net.connect(opts);
    link.inbound.attach(socket);
    socket.setNoDelay(true);
    const onClose = (): void => settle(Object.assign(new Error(`rank ${String(link.peer)} closed the connection before answering (token refused?)`), { code: 'EREFUSED' }));
    socket.once('error', (err) => settle(err));
    socket.on('close', onClose);
    socket.once('connect', () => socket.write(encodeHello(c.token, c.groupId, c.rank, c.worldSize)));
  });
}


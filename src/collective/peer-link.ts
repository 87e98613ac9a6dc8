import type net from 'node:net';
import type { Header } from './wire.js';
import { InboundChannel, type RecvSpec } from './inbound.js';
import { ControlDecoder, OutboundChannel, type ControlMessage } from './outbound.js';

export interface LinkHandlers {
  control(msg: ControlMessage): void;
  closed(which: 'data' | 'control'): void;
  mismatch(got: Header | undefined, spec: RecvSpec): void;
  protocolError(message: string): void;
}

type LinkEvent = { k: 'control'; msg: ControlMessage } | { k: 'closed'; which: 'data' | 'control' } | { k: 'mismatch'; got: Header | undefined; spec: RecvSpec } | { k: 'protocol'; message: string };

/**
 * Everything between this rank and one peer: the socket we opened to it, on which it sends us data
 * and we send it control frames, and the socket it opened to us, on which we send data and read its
 * control frames. The second is always being read, so a peer's death or abort is seen at once even
 * while our data stream from it is paused.
 */
export class PeerLink {
  readonly inbound: InboundChannel;
  outbound!: OutboundChannel;
  inSocket!: net.Socket;
  private handlers: LinkHandlers | undefined;
  private readonly early: LinkEvent[] = [];
  private readonly decoder = new ControlDecoder();
  private closing = false;
  /** When a control frame (a heartbeat or any other) last came from the peer. */
  lastHeard = Date.now();
  /** Whether anything has come on the control stream yet: a peer is only judged silent once it has spoken. */
  heard = false;

  constructor(readonly peer: number) {
    this.inbound = new InboundChannel(peer, {
      onMismatch: (_peer, got, spec) => this.emit({ k: 'mismatch', got, spec }),
      onProtocolError: (_peer, message) => this.emit({ k: 'protocol', message }),
    });
  }

  /** The socket we connected (data in, control out). */
  attachIn(socket: net.Socket): void {
    this.inSocket = socket;
    this.inbound.attach(socket);
    keepAlive(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => this.emit({ k: 'closed', which: 'data' }));
  }

  /** The socket the peer connected, after its hello; `rest` is anything read past the hello. */
  attachOut(socket: net.Socket, rest: Buffer): void {
    this.outbound = new OutboundChannel(this.peer, socket);
    keepAlive(socket);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => this.onControlBytes(chunk));
    socket.on('close', () => this.emit({ k: 'closed', which: 'control' }));
    if (rest.length > 0) this.onControlBytes(rest);
  }

  /** A TCP link (another host); a Unix socket has no remote address. */
  get crossHost(): boolean {
    return this.inSocket?.remoteAddress !== undefined;
  }

  private onControlBytes(chunk: Buffer): void {
    this.lastHeard = Date.now();
    this.heard = true;
    let msgs: ControlMessage[];
    try {
      msgs = this.decoder.push(chunk);
    } catch (err) {
      this.emit({ k: 'protocol', message: `bad control frame: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    for (const msg of msgs) this.emit({ k: 'control', msg });
  }

  setHandlers(h: LinkHandlers): void {
    this.handlers = h;
    for (const e of this.early.splice(0)) this.dispatch(e);
  }

  private emit(e: LinkEvent): void {
    if (this.closing && e.k === 'closed') return;
    if (this.handlers === undefined) this.early.push(e);
    else this.dispatch(e);
  }

  private dispatch(e: LinkEvent): void {
    const h = this.handlers as LinkHandlers;
    if (e.k === 'control') h.control(e.msg);
    else if (e.k === 'closed') h.closed(e.which);
    else if (e.k === 'mismatch') h.mismatch(e.got, e.spec);
    else h.protocolError(e.message);
  }

  /** Let the process exit even if the user never calls cleanupDistributed() (a pending call's timer still holds it). */
  unref(): void {
    this.inSocket.unref();
    this.outbound.socket.unref();
  }

  sendControl(frame: Buffer): void {
    if (!this.inSocket.destroyed && this.inSocket.writable) this.inSocket.write(frame);
  }

  /** Half-close both sockets (pending writes flush first), and destroy them if still open after `graceMs`. */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    this.inbound.kill();
    const sockets = [this.inSocket, this.outbound?.socket].filter((s): s is net.Socket => s !== undefined);
    await Promise.all(
      sockets.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.destroyed) return resolve();
            // Ref'd on purpose: the sockets are unref'd, and `await cleanupDistributed()` must finish.
            const t = setTimeout(() => {
              s.destroy();
              resolve();
            }, graceMs);
            s.once('close', () => {
              clearTimeout(t);
              resolve();
            });
            // Data we no longer read must not hold the close up.
            s.resume();
            s.end();
          }),
      ),
    );
  }
}

/**
 * Kernel keep-alive probes on a TCP link, so that an idle connection to a vanished host dies even while
 * no collective runs. Node sets only the idle delay (libuv picks the probe interval and count), so this
 * is a backstop: the group's heartbeat (ProcessGroup) is what bounds the detection of a silent peer.
 */
function keepAlive(socket: net.Socket): void {
  if (socket.remoteAddress !== undefined) socket.setKeepAlive(true, 1000);
}

/**
 * Just enough of a WebSocket client to speak the V8 inspector protocol to a worker whose event loop is
 * blocked (it cannot answer IPC then, but the inspector runs on its own thread and interrupts the
 * JavaScript). Used once per hang, to pause the worker and read its stack and a diagnostic report.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';

interface Reply {
  id?: number;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: { message: string };
}

export class InspectorClient {
  private buf = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private nextId = 1;
  private readonly waiters = new Map<number, (r: Reply) => void>();
  private readonly eventWaiters: { method: string; resolve: (p: unknown) => void }[] = [];

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
  }

  static connect(wsUrl: string, timeoutMs: number): Promise<InspectorClient> {
    const u = new URL(wsUrl);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(u.port), u.hostname);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`inspector at ${wsUrl} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        clearTimeout(timer);
        if (!/^HTTP\/1\.1 101/.test(head.subarray(0, end).toString())) {
          socket.destroy();
          reject(new Error(`inspector refused the WebSocket upgrade: ${head.subarray(0, end).toString().split('\r\n')[0]}`));
          return;
        }
        const client = new InspectorClient(socket);
        const rest = head.subarray(end + 4);
        if (rest.length > 0) client.onData(rest);
        resolve(client);
      };
      socket.on('data', onData);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once('connect', () => {
        socket.write(
          `GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      });
    });
  }

  call(method: string, params: Record<string, unknown> = {}, timeoutMs = 3000): Promise<unknown> {
    const id = this.nextId++;
    this.sendText(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error(`inspector: no answer to ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(id, (r) => {
        clearTimeout(timer);
        if (r.error !== undefined) reject(new Error(`inspector ${method}: ${r.error.message}`));
        else resolve(r.result);
      });
    });
  }

  waitEvent(method: string, timeoutMs = 3000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const entry = { method, resolve: (p: unknown) => {
        clearTimeout(timer);
        resolve(p);
      } };
      const timer = setTimeout(() => {
        const i = this.eventWaiters.indexOf(entry);
        if (i >= 0) this.eventWaiters.splice(i, 1);
        reject(new Error(`inspector: no ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.eventWaiters.push(entry);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private sendText(text: string): void {
    const payload = Buffer.from(text, 'utf8');
    const mask = randomBytes(4);
    let header: Buffer;
    if (payload.length < 126) header = Buffer.from([0x81, 0x80 | payload.length]);
    else if (payload.length < 65536) {
      header = Buffer.alloc(4);
      header[0] = 0x81;
      header[1] = 0x80 | 126;
      header.writeUInt16BE(payload.length, 2);
    } else {
      header = Buffer.alloc(10);
      header[0] = 0x81;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(payload.length), 2);
    }
    for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
    this.socket.write(Buffer.concat([header, mask, payload]));
  }

  private onData(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 2) {
      const fin = (this.buf[0] & 0x80) !== 0;
      const opcode = this.buf[0] & 0x0f;
      let len = this.buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      if (this.buf.length < off + len) return;
      const payload = this.buf.subarray(off, off + len);
      this.buf = this.buf.subarray(off + len);
      if (opcode === 0x8) {
        this.socket.destroy();
        return;
      }
      if (opcode !== 0x1 && opcode !== 0x0) continue;
      this.fragments.push(Buffer.from(payload));
      if (!fin) continue;
      const text = Buffer.concat(this.fragments).toString('utf8');
      this.fragments = [];
      this.onMessage(text);
    }
  }

  private onMessage(text: string): void {
    let msg: Reply;
    try {
      msg = JSON.parse(text) as Reply;
    } catch {
      return;
    }
    if (msg.id !== undefined) {
      const w = this.waiters.get(msg.id);
      this.waiters.delete(msg.id);
      w?.(msg);
      return;
    }
    if (msg.method !== undefined) {
      const i = this.eventWaiters.findIndex((e) => e.method === msg.method);
      if (i >= 0) this.eventWaiters.splice(i, 1)[0].resolve(msg.params);
    }
  }
}

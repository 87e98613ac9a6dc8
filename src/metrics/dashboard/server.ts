import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { JobMonitor, LiveMessage } from '../live/monitor.js';
import type { PrometheusExporter } from '../live/exporter.js';

/** The page's files ship in the package's `dashboard/` folder (three levels up from here, in src/ and dist/ alike). */
const PAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../dashboard');

function staticFiles(): Map<string, { type: string; body: Buffer }> {
  const require = createRequire(import.meta.url);
  const files = new Map<string, { type: string; body: Buffer }>();
  files.set('/', { type: 'text/html; charset=utf-8', body: readFileSync(path.join(PAGE_DIR, 'index.html')) });
  files.set('/app.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(path.join(PAGE_DIR, 'app.js')) });
  files.set('/style.css', { type: 'text/css; charset=utf-8', body: readFileSync(path.join(PAGE_DIR, 'style.css')) });
  files.set('/uPlot.iife.min.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js')) });
  files.set('/uPlot.min.css', { type: 'text/css; charset=utf-8', body: readFileSync(require.resolve('uplot/dist/uPlot.min.css')) });
  return files;
}

export interface MonitorServerOptions {
  monitor: JobMonitor;
  /** Serve `/metrics` from this exporter. */
  exporter?: PrometheusExporter;
  /** Serve the dashboard page, its snapshot and its live stream. */
  dashboard?: boolean;
  /** 127.0.0.1 unless told otherwise: the page shows a job's names and errors to whoever can reach it. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
}

/** One small HTTP server for `/metrics` (Prometheus) and/or the dashboard (page, `/api/snapshot`, `/api/stream` as server-sent events). */
export class MonitorServer {
  private server: Server | undefined;
  private readonly streams = new Set<ServerResponse>();
  private readonly files: Map<string, { type: string; body: Buffer }> | undefined;
  private unsubscribe: (() => void) | undefined;
  private keepAlive: NodeJS.Timeout | undefined;

  constructor(private readonly options: MonitorServerOptions) {
    this.files = options.dashboard === true ? staticFiles() : undefined;
  }

  async start(): Promise<{ host: string; port: number; url: string }> {
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    const host = this.options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, host, () => resolve());
    });
    if (this.files !== undefined) {
      this.unsubscribe = this.options.monitor.subscribe((m) => this.broadcast(m));
      this.keepAlive = setInterval(() => this.writeAll(': keep-alive\n\n'), 15_000);
      this.keepAlive.unref();
    }
    const port = (server.address() as AddressInfo).port;
    const shown = host.includes(':') ? `[${host}]` : host;
    return { host, port, url: `http://${shown}:${port}/` };
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    if (this.keepAlive !== undefined) clearInterval(this.keepAlive);
    for (const s of this.streams) s.end();
    this.streams.clear();
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return this.send(res, 405, 'text/plain', 'only GET\n');
      if (url.pathname === '/metrics' && this.options.exporter !== undefined) {
        const text = await this.options.exporter.metrics();
        return this.send(res, 200, this.options.exporter.contentType, text);
      }
      if (this.files !== undefined) {
        if (url.pathname === '/api/snapshot') return this.send(res, 200, 'application/json', JSON.stringify(this.options.monitor.snapshot()));
        if (url.pathname === '/api/stream') return this.openStream(res);
        const file = this.files.get(url.pathname);
        if (file !== undefined) return this.send(res, 200, file.type, file.body);
      }
      this.send(res, 404, 'text/plain', 'not found\n');
    } catch (e) {
      this.send(res, 500, 'text/plain', `error: ${(e as Error).message}\n`);
    }
  }

  private openStream(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`event: snapshot\ndata: ${JSON.stringify(this.options.monitor.snapshot())}\n\n`);
    this.streams.add(res);
    res.on('close', () => this.streams.delete(res));
  }

  private broadcast(m: LiveMessage): void {
    if (this.streams.size === 0 || (m.kind !== 'event' && m.kind !== 'step')) return;
    this.writeAll(`event: ${m.kind}\ndata: ${JSON.stringify(m.kind === 'event' ? m.event : m.record)}\n\n`);
  }

  private writeAll(text: string): void {
    for (const s of this.streams) s.write(text);
  }

  private send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'" });
    res.end(body);
  }
}

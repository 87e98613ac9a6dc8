import { ConfigurationError } from '../errors/index.js';

export interface HostPort {
  host: string;
  port: number;
}

/** Parse `host:port` (or `[v6]:port`). `port` may be 0 only where `allowZero` (a server picking a free port). */
export function parseEndpoint(endpoint: unknown, allowZero = false): HostPort {
  if (typeof endpoint !== 'string' || endpoint.length === 0) {
    throw new ConfigurationError(`Store endpoint must be "host:port", got ${JSON.stringify(endpoint)}`, { configKey: 'rdzv_endpoint' });
  }
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(endpoint) ?? /^([^:]+):(\d+)$/.exec(endpoint);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || !Number.isInteger(port) || port > 65535 || port < (allowZero ? 0 : 1)) {
    throw new ConfigurationError(`Store endpoint "${endpoint}" is not "host:port" with a port in ${allowZero ? 0 : 1}..65535`, {
      configKey: 'rdzv_endpoint',
      suggestions: ['Write it as 127.0.0.1:29400, node1.cluster:29400 or [::1]:29400.'],
    });
  }
  return { host: m[1], port };
}

export function formatEndpoint(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * How a worker process is started: Node scripts (.js/.mjs/.cjs/.ts/.mts/.cts) through the worker bootstrap
 * with the same Node binary as the agent (and tsx's loader for TypeScript), anything else through the exec
 * shim that ties a foreign process's life to the agent's.
 */
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const NODE_EXTS = new Set(['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts']);
const TS_EXTS = new Set(['.ts', '.mts', '.cts']);

/** Our own files run as .ts under tsx (tests from src/) or as .js from dist/. */
const SELF_EXT = extname(fileURLToPath(import.meta.url));

export function isNodeScript(script: string): boolean {
  return NODE_EXTS.has(extname(script).toLowerCase());
}

let tsxUrl: string | undefined;
/** tsx's loader, found from this package (the user's project need not have tsx). */
export function tsxLoaderUrl(): string {
  if (tsxUrl === undefined) {
    const require = createRequire(import.meta.url);
    tsxUrl = pathToFileURL(require.resolve('tsx/package.json').replace(/package\.json$/, 'dist/loader.mjs')).href;
  }
  return tsxUrl;
}

function ownFile(name: string): string {
  return fileURLToPath(new URL(`./${name}${SELF_EXT}`, import.meta.url));
}

export interface LaunchCommand {
  file: string;
  args: string[];
}

/** Command for a worker; `standby` starts a bootstrap that waits to be given its script. */
export function launchCommand(script: string, scriptArgs: string[], options: { noNode: boolean; standby?: boolean; nodeArgs?: string[] }): LaunchCommand {
  const needsTsx = SELF_EXT === '.ts' || (!options.noNode && TS_EXTS.has(extname(script).toLowerCase()));
  const nodeFlags = [...(needsTsx ? ['--import', tsxLoaderUrl()] : []), ...(options.nodeArgs ?? [])];
  if (options.noNode || !isNodeScript(script)) {
    return { file: process.execPath, args: [...nodeFlags, ownFile('exec-shim'), script, ...scriptArgs] };
  }
  // --inspect-port=0: if the worker hangs, SIGUSR1 opens the inspector on a free port to read its stack.
  const flags = [...nodeFlags, '--inspect-port=0'];
  if (options.standby === true) return { file: process.execPath, args: [...flags, ownFile('worker-bootstrap'), '--eh-standby'] };
  return { file: process.execPath, args: [...flags, ownFile('worker-bootstrap'), script, ...scriptArgs] };
}

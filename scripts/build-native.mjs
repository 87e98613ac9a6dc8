// Builds the shared-memory addon (build/Release/eh_shm.node) with node-gyp, against this Node's own
// headers when they are installed beside it (no download: the registry may be all that is reachable).
// A failed build is not fatal: collectives then fall back to Unix sockets between ranks on one host.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const strict = process.argv.includes('--strict');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
// --if-missing (npm run build): only when the add-on is absent or older than any of its sources
// (native/*, binding.gyp), e.g. after an install with --ignore-scripts.
if (process.argv.includes('--if-missing')) {
  const built = path.join(root, 'build', 'Release', 'eh_shm.node');
  const sources = [path.join(root, 'binding.gyp'), ...readdirSync(path.join(root, 'native')).map((f) => path.join(root, 'native', f))];
  const newest = Math.max(...sources.map((f) => statSync(f).mtimeMs));
  if (existsSync(built) && statSync(built).mtimeMs >= newest) process.exit(0);
}
const prefix = path.dirname(path.dirname(process.execPath));
const args = ['rebuild'];
if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
// npm names its own node-gyp to scripts; run by hand, look beside npm, then on PATH.
const bundled = path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const gyp = process.env.npm_config_node_gyp || (existsSync(bundled) ? bundled : undefined);
const r = gyp ? spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' }) : spawnSync('node-gyp', args, { stdio: 'inherit' });
if (r.status !== 0) {
  const why = r.error ? r.error.message : `node-gyp exited with ${String(r.status)}`;
  console.warn(`elastic-harness: the shared-memory addon was not built (${why}; it needs python3, make and a C compiler). Collectives between ranks on one host will use Unix sockets.`);
  if (strict) process.exit(1);
}

/**
 * Resolve a module specifier the way an ES import in `fromFile` would, for preloading in a standby
 * worker: the standby must load the very file the script will import later, or the preload is wasted.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

type ExportsField = string | null | { [key: string]: ExportsField } | ExportsField[];

const CONDITIONS = ['node', 'import', 'default'];

function pickExport(exp: ExportsField): string | undefined {
  if (typeof exp === 'string') return exp;
  if (exp === null) return undefined;
  if (Array.isArray(exp)) {
    for (const e of exp) {
      const r = pickExport(e);
      if (r !== undefined) return r;
    }
    return undefined;
  }
  for (const [k, v] of Object.entries(exp)) {
    if (CONDITIONS.includes(k)) {
      const r = pickExport(v);
      if (r !== undefined) return r;
    }
  }
  return undefined;
}

function packageName(spec: string): { name: string; sub: string } {
  const parts = spec.split('/');
  const n = spec.startsWith('@') ? 2 : 1;
  return { name: parts.slice(0, n).join('/'), sub: parts.slice(n).join('/') };
}

/**
 * A file: URL for `spec`: a path is taken relative to `cwd`; a package name is resolved as an import in
 * `fromFile` (the script) would resolve it. node: builtins are returned as they are.
 */
export function resolveModuleUrl(spec: string, fromFile: string, cwd = process.cwd()): string {
  if (spec.startsWith('node:') || spec.startsWith('file:') || spec.startsWith('data:')) return spec;
  if (spec.startsWith('.') || isAbsolute(spec)) return pathToFileURL(resolve(cwd, spec)).href;
  const { name, sub } = packageName(spec);
  // Walk up node_modules directories for the package, then honour its "exports" with import conditions.
  let dir = dirname(resolve(fromFile));
  while (true) {
    const pkgDir = join(dir, 'node_modules', name);
    const pkgJson = join(pkgDir, 'package.json');
    if (existsSync(pkgJson)) {
      const pkg = JSON.parse(readFileSync(pkgJson, 'utf8')) as { exports?: ExportsField; main?: string; module?: string };
      if (pkg.exports !== undefined && pkg.exports !== null) {
        const exp = pkg.exports;
        const key = sub === '' ? '.' : `./${sub}`;
        const entry = typeof exp === 'object' && !Array.isArray(exp) && Object.keys(exp).some((k) => k.startsWith('.')) ? exp[key] : key === '.' ? exp : undefined;
        const target = entry === undefined ? undefined : pickExport(entry);
        if (target !== undefined) return pathToFileURL(join(pkgDir, target)).href;
      }
      break;
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  // No "exports": an import resolves like require (the "main" field), so require.resolve agrees.
  return pathToFileURL(createRequire(resolve(fromFile)).resolve(spec)).href;
}

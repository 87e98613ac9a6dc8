/**
 * torchrun accepts both `--nproc_per_node` and `--nproc-per-node`. Option names before the script are
 * rewritten to the dashed form; nothing from the script onwards is touched (its arguments are its own).
 */
export function normalizeRunArgv(args: readonly string[], takesValue: (longName: string) => boolean): string[] {
  const out: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i];
    if (a === '--') break;
    if (!a.startsWith('-')) break; // the script
    if (!a.startsWith('--')) {
      out.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = (eq < 0 ? a : a.slice(0, eq)).replace(/_/g, '-');
    out.push(eq < 0 ? name : `${name}${a.slice(eq)}`);
    if (eq < 0 && takesValue(name) && i + 1 < args.length) {
      i += 1;
      out.push(args[i]);
    }
  }
  return [...out, ...args.slice(i)];
}

import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { ElasticTrainingError } from '../errors/index.js';
import { canonicalJson, loadSweepFile, type GeneratedExperiment } from '../experiments/index.js';

/** Columns padded to their widest cell. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** A CLI action: our errors print their message (no stack) and exit 2. */
export function cliAction<A extends unknown[]>(name: string, fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (!(err instanceof ElasticTrainingError)) throw err;
      process.stderr.write(`eh ${name}: ${err.message}\n`);
      process.exitCode = 2;
    }
  };
}

function show(v: unknown): string {
  return v === undefined ? '' : typeof v === 'string' ? v : canonicalJson(v);
}

/** The experiments of a sweep as a table: name, grid, one column per parameter key. */
export function experimentsTable(rows: GeneratedExperiment[]): string {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r.parameters)))];
  return formatTable(['#', 'name', 'grid', ...keys], rows.map((r) => [String(r.index), r.config.experimentName, r.gridName, ...keys.map((k) => show(r.parameters[k]))]));
}

interface SweepOpts {
  out?: string;
  dryRun?: boolean;
  limit: string;
}

/** `eh sweep GRID.yaml`: print the experiments of a sweep file as a table and write each one's config. */
export function registerSweepCommand(program: Command): void {
  program
    .command('sweep')
    .argument('<grid>', 'a sweep file (YAML or JSON): base_config, naming, grids')
    .option('--out <dir>', 'where the experiments go (default: the file\'s experiments_dir, else ./experiments)')
    .option('--dry-run', 'print only, write nothing')
    .option('--limit <n>', 'rows of the table to print (the files are written for all)', '50')
    .description('expand a parameter sweep: print its experiments and write <out>/<name>/config.yaml for each')
    .action(
      cliAction('sweep', async (file: string, o: SweepOpts) => {
        const limit = Number(o.limit);
        if (!Number.isSafeInteger(limit) || limit < 0) throw new ElasticTrainingError(`--limit takes a whole number, got ${JSON.stringify(o.limit)}`, { suggestions: ['Pass e.g. --limit 100.'] });
        const sweep = await loadSweepFile(file);
        const total = sweep.search.getTotalExperiments();
        const out = resolve(o.out ?? sweep.experimentsDir ?? 'experiments');
        const shown: GeneratedExperiment[] = [];
        let written = 0;
        for (const e of sweep.search.generate()) {
          if (shown.length < limit) shown.push(e);
          if (o.dryRun !== true) {
            const dir = join(out, e.config.experimentName);
            await mkdir(dir, { recursive: true });
            await writeFile(join(dir, 'config.yaml'), stringify(e.config));
            written += 1;
          } else if (shown.length >= limit) break;
        }
        process.stdout.write(`${experimentsTable(shown)}\n`);
        if (total > shown.length) process.stdout.write(`... and ${total - shown.length} more\n`);
        if (o.dryRun !== true) {
          await sweep.search.saveGridConfig(join(out, 'grid_config.json'));
          await sweep.search.saveSummary(join(out, 'sweep_summary.txt'));
        }
        process.stdout.write(`${total} experiment(s) in ${sweep.search.grids.length} grid(s)${o.dryRun === true ? ' (dry run: nothing written)' : `; wrote ${written} config(s) to ${out}`}\n`);
      }),
    );
}

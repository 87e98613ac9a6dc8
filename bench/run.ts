/**
 * Runs every benchmark in turn (or those named: `npm run bench -- allreduce checkpoint`), each printing
 * its own table. Benchmarks compare against peers measured in the same run, since the machine is shared.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const BENCHMARKS = ['allreduce', 'checkpoint', 'local-checkpoint', 'recovery', 'agent-memory', 'store', 'trainer'] as const;

interface BenchModule {
  main?: () => Promise<unknown>;
  default?: () => Promise<unknown>;
}

async function run(): Promise<void> {
  const here = dirname(fileURLToPath(import.meta.url));
  const asked = process.argv.slice(2);
  const unknown = asked.filter((n) => !(BENCHMARKS as readonly string[]).includes(n));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHMARKS.join(', ')}\n`);
    process.exit(2);
  }
  const selected = asked.length > 0 ? asked : [...BENCHMARKS];
  for (const name of selected) {
    const file = join(here, `${name}.ts`);
    if (!existsSync(file)) {
      process.stderr.write(`bench ${name}: ${file} not found\n`);
      process.exitCode = 1;
      continue;
    }
    process.stdout.write(`\n=== ${name} ===\n`);
    const mod = (await import(pathToFileURL(file).href)) as BenchModule;
    const entry = mod.main ?? mod.default;
    if (entry === undefined) throw new Error(`bench/${name}.ts exports no main()`);
    await entry();
  }
}

await run();

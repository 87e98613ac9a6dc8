import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigurationError } from '../../src/errors/index.js';
import { defaultConfig, loadConfig, loadConfigFile, validateElasticConfig } from '../../src/config/index.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
let dir: string;
const file = async (name: string, text: string): Promise<string> => {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
};
const rejectsWith = async (p: Promise<unknown>, re: RegExp): Promise<ConfigurationError> => {
  let caught: unknown;
  await p.then(
    () => assert.fail(`expected a rejection matching ${re}`),
    (e: unknown) => {
      caught = e;
    },
  );
  assert.ok(caught instanceof ConfigurationError, `not a ConfigurationError: ${String(caught)}`);
  assert.match(caught.message, re);
  return caught;
};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'eh-config-load-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('YAML and JSON load to the same object', async () => {
  const y = await file('a.yaml', 'elastic:\n  min_nodes: 2\n  max_nodes: 4\ntraining:\n  lr: 1e-4  # YAML 1.2: a float\n  gradient_clipping:\n    max_norm: 0.5\n');
  const j = await file('a.json', JSON.stringify({ elastic: { min_nodes: 2, max_nodes: 4 }, training: { lr: 1e-4, gradient_clipping: { max_norm: 0.5 } } }));
  const a = await loadConfigFile(y);
  assert.deepEqual(a, await loadConfigFile(j));
  assert.equal(a.training && (a.training as Record<string, unknown>).lr, 1e-4);
  const yml = await file('b.yml', 'training: {lr: 0.5}');
  assert.deepEqual(await loadConfigFile(yml), { training: { lr: 0.5 } });
});

test('a missing file, a directory, an empty file: clear ConfigurationErrors', async () => {
  const missing = await rejectsWith(loadConfigFile(join(dir, 'nope.yaml')), /^Config file not found: \/.*nope\.yaml/);
  assert.ok(missing.suggestions.length > 0);
  const sub = join(dir, 'sub');
  await mkdir(sub);
  await rejectsWith(loadConfigFile(sub), /is a directory/);
  await rejectsWith(loadConfigFile(await file('empty.yaml', '# nothing\n')), /is empty/);
});

test('YAML syntax errors give line and column', async () => {
  const bad = await file('bad.yaml', 'elastic:\n  min_nodes: 1\n  max_nodes: [2, 3\ntraining:\n  lr: 1\n');
  const e = await rejectsWith(loadConfigFile(bad), /^YAML syntax error in .*bad\.yaml at line \d+, column \d+/);
  assert.ok(e.cause !== undefined);
  const tab = await file('tab.yaml', 'elastic:\n\tmin_nodes: 1\n');
  await rejectsWith(loadConfigFile(tab), /YAML syntax error in .*tab\.yaml at line 2, column 1/);
  const dup = await file('dup.yaml', 'training:\n  lr: 1\n  lr: 2\n');
  await rejectsWith(loadConfigFile(dup), /^YAML error in .*dup\.yaml at line 3, column 3: key "lr" is written twice in this mapping \(first at line 2, column 3\)/);
});

test('JSON syntax errors give line and column', async () => {
  const bad = await file('bad.json', '{\n  "training": {\n    "lr": 0.1,\n  }\n}\n');
  await rejectsWith(loadConfigFile(bad), /^JSON syntax error in .*bad\.json at line 4, column 3/);
});

test('a top level that is not a mapping is refused', async () => {
  await rejectsWith(loadConfigFile(await file('list.yaml', '- elastic\n- training\n')), /top level of .*list\.yaml must be a mapping of sections .*got an array of 2/);
  await rejectsWith(loadConfigFile(await file('scalar.yaml', 'just words\n')), /got string "just words"/);
  await rejectsWith(loadConfigFile(await file('num.json', '42')), /got number 42/);
});

test('loadConfig validates and throws one error listing every problem', async () => {
  const p = await file('invalid.yaml', 'elastic:\n  min_nodes: 3\n  max_nodes: 2\ntraining:\n  lr: 0\n');
  const e = await rejectsWith(loadConfig(p), /Invalid configuration in .*invalid\.yaml \(2 errors\)/);
  assert.match(e.message, /training\.lr: must be > 0, got 0/);
  assert.match(e.message, /elastic\.max_nodes \(2\) must be >= elastic\.min_nodes \(3\)/);
  const ok = await file('ok.yaml', 'checkpoint:\n  checkpoint_interval: 120\n');
  const loaded = await loadConfig(ok);
  assert.equal(loaded.config.checkpoint.checkpoint_interval, 120);
  assert.match(loaded.warnings[0], /not a multiple/);
});

test('the example configs are valid and warning-free; full.yaml spells out every default', async () => {
  const examples = join(root, 'examples', 'config');
  const names = (await readdir(examples)).filter((n) => n.endsWith('.yaml'));
  assert.ok(names.includes('full.yaml') && names.includes('minimal.yaml'), names.join(','));
  for (const name of names) {
    const r = validateElasticConfig(await loadConfigFile(join(examples, name)));
    assert.deepEqual({ name, errors: r.errors, warnings: r.warnings }, { name, errors: [], warnings: [] });
  }
  const full = await loadConfigFile(join(examples, 'full.yaml'));
  assert.deepEqual(full, defaultConfig(), 'full.yaml holds exactly every key with its default');
});

test('docs/api/config.md documents every key with its default', async () => {
  const doc = await readFile(join(root, 'docs', 'api', 'config.md'), 'utf8');
  const rows = doc.split('\n').filter((l) => l.startsWith('| `'));
  const walk = (obj: Record<string, unknown>, path: string[]): void => {
    for (const [k, v] of Object.entries(obj)) {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        walk(v as Record<string, unknown>, [...path, k]);
        continue;
      }
      const key = [...path, k].join('.');
      const row = rows.find((r) => r.startsWith(`| \`${key}\` |`));
      assert.ok(row !== undefined, `${key} is not documented`);
      assert.ok(row.includes(`| \`${JSON.stringify(v)}\` |`), `${key}: default ${JSON.stringify(v)} not in ${row}`);
    }
  };
  walk(defaultConfig() as unknown as Record<string, unknown>, []);
});

test('JSON refuses a key written twice, as YAML does, with line and column (escaped spellings count)', async () => {
  const dup = await file('dup.json', '{\n  "training": {\n    "lr": 1,\n    "l\\u0072": 2\n  }\n}\n');
  const e = await rejectsWith(loadConfigFile(dup), /^JSON error in .*dup\.json at line 4, column 5: key "lr" is written twice in this object \(first at line 3, column 5\)/);
  assert.match(e.message, /silently replace/);
  await rejectsWith(loadConfigFile(await file('top.json', '{"elastic": {}, "training": {}, "elastic": {"min_nodes": 2}}')), /at line 1, column 33: key "elastic" is written twice in this object \(first at line 1, column 2\)/);
  // The same key in different objects, keys inside strings, arrays of objects: no false alarm.
  const ok = await file('ok.json', JSON.stringify({ model: { a: 'x"y,{"a":1', list: [{ a: 1 }, { a: 2 }], nested: { a: { a: 1 } } }, data: { a: '}' } }, null, 2));
  assert.equal(((await loadConfigFile(ok)).model as Record<string, unknown>).a, 'x"y,{"a":1');
});

test('a YAML alias bomb is refused naming the file, the alias and its line; a few aliases are fine', async () => {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (const [k, prev] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd'], ['f', 'e'], ['g', 'f']]) lines.push(`${k}: &${k} [${Array(9).fill(`*${prev}`).join(',')}]`);
  const bomb = await file('bomb.yaml', `${lines.join('\n')}\n`);
  const e = await rejectsWith(loadConfigFile(bomb), /^YAML aliases in .*bomb\.yaml repeat more than 100000 values in all, the limit being reached at alias \*\w at line \d+, column \d+: nested aliases that multiply \(an "alias bomb"\) are refused/);
  assert.doesNotMatch(e.message, /ReferenceError|resource exhaustion/);
  const fine = await file('aliases.yaml', 'model: &m\n  name: mlp\n  hidden: [64, 64]\ndata:\n  path: /d\n  model_copy: *m\n');
  const raw = await loadConfigFile(fine);
  assert.deepEqual((raw.data as Record<string, unknown>).model_copy, { name: 'mlp', hidden: [64, 64] });
  await rejectsWith(loadConfigFile(await file('noanchor.yaml', 'model: *nowhere\n')), /alias \*nowhere has no anchor|syntax error/);
});

test('the size is capped with a clear message, also for a file that never ends (/dev/zero)', async () => {
  const big = await file('big.yaml', `model:\n  blob: "${'x'.repeat(1024 * 1024)}"\n`);
  const e = await rejectsWith(loadConfigFile(big), /^Config file .*big\.yaml is 1048594 bytes, more than the 1048576 bytes \(1 MiB\) a config file may have/);
  assert.match(e.message, /Check the path/);
  assert.equal(((await loadConfigFile(big, { maxBytes: 2 * 1024 * 1024 })).model as Record<string, string>).blob.length, 1024 * 1024);
  await rejectsWith(loadConfigFile('/dev/zero', { maxBytes: 4096 }), /\/dev\/zero holds more than the 4096 bytes/);
  await rejectsWith(loadConfigFile('/dev/zero'), /\/dev\/zero holds more than the 1048576 bytes \(1 MiB\) a config file may have/);
});

test('too deep a nesting is a clear error, not a stack overflow', async () => {
  const n = 100_000;
  await rejectsWith(loadConfigFile(await file('deep.yaml', `model:\n  x: ${'['.repeat(n)}${']'.repeat(n)}\n`)), /^YAML in .*deep\.yaml nests too deeply/);
});

// Loading is linear in the size of a mapping: 60 000 keys (the 1 MiB cap) took ~20 s before (the yaml package's
// uniqueKeys check compares each key with every earlier one), ~1.5 s after. The bound is 8x the measured time.
test('one mapping with 60 000 keys (1 MiB) loads and validates in linear time', async () => {
  const keys: string[] = [];
  let size = 8;
  for (let i = 0; size < 1024 * 1024 - 64; i++) {
    const line = `  key_${i}: ${i}`;
    keys.push(line);
    size += line.length + 1;
  }
  const p = await file('wide.yaml', `model:\n${keys.join('\n')}\n`);
  const t0 = performance.now();
  const raw = await loadConfigFile(p);
  const r = validateElasticConfig(raw);
  const took = performance.now() - t0;
  assert.equal(r.valid, true);
  assert.equal(Object.keys(raw.model as object).length, keys.length);
  assert.ok(took < 12_000, `${keys.length} keys took ${took.toFixed(0)} ms`);
  const dupAtEnd = await file('wide-dup.yaml', `model:\n${keys.join('\n')}\n  key_0: again\n`);
  await rejectsWith(loadConfigFile(dupAtEnd, { maxBytes: 2 << 20 }), new RegExp(`line ${keys.length + 2}, column 3: key "key_0" is written twice .*first at line 2, column 3`));
});

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
  await rejectsWith(loadConfigFile(dup), /YAML syntax error in .*dup\.yaml at line 3, column 3: Map keys must be unique/);
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

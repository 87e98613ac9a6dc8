/**
 * A worker script that does not parse is reported at FILE:LINE:COL, as Node itself would point at it,
 * whether the error is in the script or in a file it imports, ES module or CommonJS; and finding the
 * place runs none of the user's code.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseArrow } from '../../src/agent/syntax-location.js';
import { startAgent, tempDir } from './harness.js';

// Written at test time: a broken fixture file would break the linter. The error is at line 3, column 11.
const BROKEN = '// deliberately broken\nconst a = 1;\nconst b = ;\nexport { a, b };\n';
const BROKEN_CJS = '// deliberately broken\nconst a = 1;\nconst b = ;\nmodule.exports = { a, b };\n';

interface Case {
  what: string;
  files: Record<string, string>;
  entry: string;
  broken: string;
}

const cases: Case[] = [
  { what: 'an ES module script', files: { 'bad.mjs': BROKEN }, entry: 'bad.mjs', broken: 'bad.mjs' },
  {
    what: 'an ES module imported by the script (after one with a side effect)',
    files: { 'main.mjs': "import './effect.mjs';\nimport './lib/bad.mjs';\n", 'effect.mjs': "import { writeFileSync } from 'node:fs';\nwriteFileSync(process.env.EFFECT_FILE, 'ran');\n", 'lib/bad.mjs': BROKEN },
    entry: 'main.mjs',
    broken: 'lib/bad.mjs',
  },
  { what: 'a .js ES module in a "type": "module" package', files: { 'package.json': '{"type":"module"}', 'main.js': "import './bad.js';\n", 'bad.js': BROKEN }, entry: 'main.js', broken: 'bad.js' },
  { what: 'a CommonJS script', files: { 'bad.cjs': BROKEN_CJS }, entry: 'bad.cjs', broken: 'bad.cjs' },
  { what: 'a CommonJS file required by a CommonJS script', files: { 'main.cjs': "require('./bad.cjs');\n", 'bad.cjs': BROKEN_CJS }, entry: 'main.cjs', broken: 'bad.cjs' },
  { what: 'a CommonJS file imported by an ES module', files: { 'main.mjs': "import './bad.cjs';\n", 'bad.cjs': BROKEN_CJS }, entry: 'main.mjs', broken: 'bad.cjs' },
];

for (const c of cases) {
  test(`a syntax error in ${c.what} is reported at FILE:LINE:COL`, async () => {
    const tmp = tempDir();
    try {
      mkdirSync(join(tmp.path, 'lib'), { recursive: true });
      for (const [name, text] of Object.entries(c.files)) writeFileSync(join(tmp.path, name), text);
      const logs = join(tmp.path, 'logs');
      const effect = join(tmp.path, 'effect-ran');
      const agent = startAgent(['--standalone', '--log-dir', logs, join(tmp.path, c.entry)], { EFFECT_FILE: effect });
      const { code } = await agent.exited(30_000);
      assert.equal(code, 1, agent.stderr());
      const where = `${join(tmp.path, c.broken)}:3:11`;
      const err = agent.stderr();
      assert.ok(err.includes(`start-up   : Unexpected token ';' at ${where}`), `the report names ${where}:\n${err}`);
      // The worker's stderr shows Node's arrow under the offending line.
      assert.ok(err.includes(`${where}\n`) && /const b = ;\n[^\n]*\s{10}\^/.test(err), err);
      const record = JSON.parse(readFileSync(join(logs, 'attempt_0', '0', 'error.json'), 'utf8')) as { eh: { name: string; message: string; stack: string } };
      assert.equal(record.eh.name, 'SyntaxError');
      assert.equal(record.eh.message, `Unexpected token ';' at ${where}`);
      assert.ok(record.eh.stack.startsWith(`${where}\nconst b = ;\n          ^`), record.eh.stack);
      assert.equal(existsSync(effect), false, 'no module of a graph that does not link is evaluated, by the worker or by the check');
    } finally {
      tmp.remove();
    }
  });
}

test('a SyntaxError the script raises itself (JSON.parse) keeps its own stack and message', async () => {
  const tmp = tempDir();
  try {
    const script = join(tmp.path, 'json.mjs');
    writeFileSync(script, "JSON.parse('{not json');\n");
    const logs = join(tmp.path, 'logs');
    const agent = startAgent(['--standalone', '--log-dir', logs, script]);
    assert.equal((await agent.exited(30_000)).code, 1);
    const record = JSON.parse(readFileSync(join(logs, 'attempt_0', '0', 'error.json'), 'utf8')) as { eh: { message: string; stack: string } };
    assert.doesNotMatch(record.eh.message, / at \//);
    assert.match(record.eh.stack, /json\.mjs:1:6/);
  } finally {
    tmp.remove();
  }
});

test('parseArrow reads the place from Node\'s printout and ignores another error\'s', () => {
  const printout = 'file:///tmp/a%20b/x.mjs:2\n\tif (x) { return = 2 }\n\t         ^^^^^^\n\nSyntaxError: Invalid left-hand side in assignment\n';
  assert.deepEqual(parseArrow(printout, 'Invalid left-hand side in assignment'), {
    file: '/tmp/a b/x.mjs',
    line: 2,
    column: 11,
    sourceLine: '\tif (x) { return = 2 }',
    caretLine: '\t         ^^^^^^',
  });
  assert.equal(parseArrow(printout, 'Unexpected token'), undefined);
  assert.equal(parseArrow('SyntaxError: Unexpected token\n    at compileSourceTextModule (node:internal/modules/esm/utils:346:16)'), undefined);
});

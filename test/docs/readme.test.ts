import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
// @ts-expect-error a plain .mjs script without type declarations
import { buildReadme } from '../../scripts/build-readme.mjs';

test('README.md is generated from docs/ and current (run `npm run readme` after editing docs)', () => {
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  assert.equal(readme, (buildReadme as () => string)());
});

test('the README names the two set-up commands, the demo and the test command', () => {
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  for (const s of ['npm ci', 'npm run demo', 'npm test', 'npm run bench']) assert.ok(readme.includes(s), s);
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { scripts: Record<string, string> };
  for (const s of ['demo', 'test', 'bench', 'readme', 'typecheck', 'lint']) assert.ok(pkg.scripts[s] !== undefined, s);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { FIXTURES, startAgent } from './harness.js';

const WARNING = 'NodeVersionSupportWarning';

// The SDK only warns on Node versions it is about to drop; on a newer Node there is nothing to count.
const sdkWarnsHere = Number(process.versions.node.split('.')[0]) < 22;

test("the AWS SDK's Node-version warning is printed once per job, not once per worker", { skip: sdkWarnsHere ? false : 'the AWS SDK does not warn on this Node version' }, async () => {
  const agent = startAgent(['--standalone', '--nproc-per-node', '3', '--tee', '3', join(FIXTURES, 's3-client.mjs')], { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined });
  const { code } = await agent.exited(60_000);
  const all = agent.stdout() + agent.stderr();
  assert.equal(code, 0, all);
  for (const r of [0, 1, 2]) assert.match(agent.stdout(), new RegExp(`rank ${r} done`));
  assert.equal(all.split(WARNING).length - 1, 1, all);
});

test('a user who sets the variable keeps it for every worker', { skip: sdkWarnsHere ? false : 'the AWS SDK does not warn on this Node version' }, async () => {
  const agent = startAgent(['--standalone', '--nproc-per-node', '2', '--tee', '3', join(FIXTURES, 's3-client.mjs')], { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
  const { code } = await agent.exited(60_000);
  const all = agent.stdout() + agent.stderr();
  assert.equal(code, 0, all);
  assert.equal(all.split(WARNING).length - 1, 0, all);
});

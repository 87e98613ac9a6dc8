import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as root from '../../src/index.js';
import * as agent from '../../src/agent/index.js';
import * as collective from '../../src/collective/index.js';
import { getWorldInfo, readStoreEnv, requireStoreEnv } from '../../src/env/index.js';
import { ConfigurationError, DistributedSetupError } from '../../src/errors/index.js';

const FULL = { RANK: '1', LOCAL_RANK: '1', WORLD_SIZE: '4', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: 'h0', MASTER_PORT: '29500' };

test('one getWorldInfo: the root, the agent and the collective all give the env part\'s parser', () => {
  assert.equal(root.getWorldInfo, getWorldInfo);
  assert.equal(agent.getWorldInfo, getWorldInfo);
  assert.equal(collective.getWorldInfo, getWorldInfo);
  // The group's own world has a name of its own.
  assert.equal(collective.getCurrentWorld(), undefined);
  assert.equal(root.getCurrentWorld, collective.getCurrentWorld);
});

test('no launcher variables, or WORLD_SIZE=1, is a world of one', () => {
  const one = getWorldInfo({});
  assert.deepEqual([one.rank, one.worldSize, one.localWorldSize, one.groupWorldSize, one.roleName, one.runId], [0, 1, 1, 1, 'default', '']);
  assert.equal(getWorldInfo({ WORLD_SIZE: '1' }).worldSize, 1);
});

test('a full environment is read with the extras torchrun sets', () => {
  const w = getWorldInfo({ ...FULL, GROUP_RANK: '0', GROUP_WORLD_SIZE: '2', ROLE_NAME: 'trainer', TORCHELASTIC_RESTART_COUNT: '3', TORCHELASTIC_MAX_RESTARTS: '5', TORCHELASTIC_RUN_ID: 'job' });
  assert.deepEqual(w, { rank: 1, localRank: 1, worldSize: 4, localWorldSize: 2, masterAddr: 'h0', masterPort: 29500, groupRank: 0, groupWorldSize: 2, roleName: 'trainer', restartCount: 3, maxRestarts: 5, runId: 'job' });
});

test('a partial or malformed environment lists every problem at once', () => {
  assert.throws(
    () => getWorldInfo({ RANK: '1', WORLD_SIZE: '2' }),
    (e: unknown) => e instanceof DistributedSetupError && e.missingVars.join() === 'LOCAL_RANK,LOCAL_WORLD_SIZE,MASTER_ADDR,MASTER_PORT',
  );
  assert.throws(() => getWorldInfo({ ...FULL, RANK: '-1', MASTER_PORT: '70000' }), (e: unknown) => e instanceof DistributedSetupError && /RANK="-1"/.test(e.message) && /MASTER_PORT="70000"/.test(e.message));
  assert.throws(() => getWorldInfo({ ...FULL, LOCAL_WORLD_SIZE: 'two' }), /LOCAL_WORLD_SIZE="two"/);
  assert.throws(() => getWorldInfo({ ...FULL, RANK: '4' }), /RANK=4 is not below WORLD_SIZE=4/);
  assert.throws(() => getWorldInfo({ ...FULL, TORCHELASTIC_RESTART_COUNT: '1.5' }), /TORCHELASTIC_RESTART_COUNT/);
});

test('the store settings are read by one parser too', () => {
  assert.deepEqual(readStoreEnv({ EH_STORE_ENDPOINT: 'h:1', EH_TOKEN: 't', EH_STORE_PREFIX: 'p', EH_HOST_ID: 'x', TORCHELASTIC_RUN_ID: 'r' }), { backend: 'tcp', endpoint: 'h:1', token: 't', prefix: 'p', runId: 'r', hostId: 'x' });
  assert.throws(() => readStoreEnv({ EH_STORE_BACKEND: 'zk' }), ConfigurationError);
  assert.throws(() => requireStoreEnv({}, 'a test'), (e: unknown) => e instanceof DistributedSetupError && e.missingVars.join() === 'EH_STORE_ENDPOINT,EH_TOKEN');
  assert.throws(() => requireStoreEnv({}, 'a test', false), (e: unknown) => e instanceof DistributedSetupError && e.missingVars.join() === 'EH_TOKEN');
});

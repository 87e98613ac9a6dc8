// Child of kill.test.ts: saves step after step into a directory until it is killed. Bundled before use, so
// that it starts fast; "sync" saves on the main thread, "async" through the writer thread.
import { NVMeBackend, stepOfName } from '../../src/checkpoint/index.js';
import { killTestState } from './kill-state.js';

const [dir, mode] = process.argv.slice(2);
const backend = new NVMeBackend(dir);
const latest = await backend.getLatestCheckpoint();
let step = latest === null ? 1 : stepOfName(latest) + 1;
process.stdout.write('ready\n');
for (;;) {
  const s = step;
  if (mode === 'async') {
    const pending = await backend.saveAsync(killTestState(s));
    void pending.done.then(async () => {
      process.stdout.write(`committed ${s}\n`);
      await backend.cleanupOldCheckpoints(3);
    });
  } else {
    await backend.save(killTestState(s));
    process.stdout.write(`committed ${s}\n`);
    await backend.cleanupOldCheckpoints(3);
  }
  step++;
}

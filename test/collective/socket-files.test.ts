/**
 * sweepStaleSockets removes the socket file of a rank whose process is dead, and nothing else: not a
 * live process's, not a file that is not a socket, not a file of another name.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { socketPathFor, sweepStaleSockets } from '../../src/collective/socket-files.js';

/** A process that listens on its own rank socket in `dir`, then is SIGKILLed: its file stays behind. */
async function leaveStaleSocket(dir: string): Promise<string> {
  const code = `
    const net = require('node:net');
    const path = require('node:path');
    const file = path.join(${JSON.stringify(dir)}, 'eh-c-' + process.pid + '-0123456789ab-1.sock');
    net.createServer().listen(file, () => process.stdout.write(file + '\\n'));
  `;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const file = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
  return file;
}

test('only the socket files of dead ranks are swept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eh-sock-'));
  const live = net.createServer();
  try {
    const stale = await leaveStaleSocket(dir);
    assert.ok(existsSync(stale), 'a SIGKILLed listener leaves its file');
    const mine = socketPathFor('group-x', 0, dir);
    assert.ok(mine.startsWith(`${dir}/eh-c-${process.pid}-`));
    await new Promise<void>((resolve) => live.listen(mine, () => resolve()));
    const notSocket = join(dir, 'eh-c-999999999-0123456789ab-0.sock');
    writeFileSync(notSocket, '');
    const otherName = join(dir, 'eh-c-not-a-rank.sock');
    writeFileSync(otherName, '');
    // /tmp is swept too, where other jobs' live ranks may be: whatever it removes there is dead, so count only this directory.
    sweepStaleSockets(dir);
    assert.equal(existsSync(stale), false, 'the dead rank\'s socket is removed');
    assert.ok(existsSync(mine), 'a live rank\'s socket stays');
    assert.ok(existsSync(notSocket), 'a file that is not a socket stays');
    assert.ok(existsSync(otherName), 'a file of another name stays');
  } finally {
    await new Promise<void>((resolve) => live.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a temp directory too long for a socket path falls back to /tmp', () => {
  const long = `/tmp/${'x'.repeat(120)}`;
  assert.match(socketPathFor('g', 3, long), /^\/tmp\/eh-c-\d+-[0-9a-f]{12}-3\.sock$/);
});

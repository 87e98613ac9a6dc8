/**
 * What a stopped or killed job leaves behind, with real processes: a SIGINT leaves no Unix socket file
 * of its workers in the temp directory; a SIGKILL of `eh run` itself leaves no process (worker, standby,
 * the shim of a non-Node worker and that worker's own children); and garbage sent to the store's port or
 * to a worker's collective socket costs the sender its connection and the job nothing.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { FIXTURES, pidAlive, readIf, startAgent, tempDir, waitFor } from './harness.js';

interface Ready {
  pid: number;
  sockets: string[];
  store: string;
}

const GROUP_WAIT = join(FIXTURES, 'group-wait.mjs');

function readyOf(dir: string, ranks: number[]): Ready[] | undefined {
  const all = ranks.map((r) => readIf(join(dir, `ready-rank${r}`)));
  return all.every((t) => t !== undefined) ? all.map((t) => JSON.parse(t as string) as Ready) : undefined;
}

/** Every process below `root` now (from /proc: pid -> parent pid). */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const p = queue.shift() as number;
    for (const [pid, pp] of parent) {
      if (pp === p) {
        found.push(pid);
        queue.push(pid);
      }
    }
  }
  return found;
}

function socketFiles(dir: string): string[] {
  return readdirSync(dir).filter((n) => /^eh-c-.*\.sock$/.test(n));
}

test('SIGINT to eh run: the workers die of it, and their Unix socket files are swept from the temp directory', async () => {
  const tmp = tempDir();
  const own = tempDir('eh-tmpdir-');
  try {
    const agent = startAgent(['--standalone', '--nproc-per-node', '2', '--grace-period', '2', GROUP_WAIT], { OUT_DIR: tmp.path, TMPDIR: own.path });
    const ready = await waitFor('both workers in the group', () => readyOf(tmp.path, [0, 1]), 30_000);
    for (const r of ready) assert.ok(r.sockets.length === 1 && r.sockets[0].startsWith(`${own.path}/`), JSON.stringify(r));
    assert.equal(socketFiles(own.path).length, 2, 'each rank listens on its own socket file');
    agent.child.kill('SIGINT');
    const { code } = await agent.exited(20_000);
    assert.equal(code, 130, agent.stderr());
    for (const r of ready) assert.ok(!pidAlive(r.pid), 'the worker is gone');
    assert.deepEqual(socketFiles(own.path), [], 'no socket file is left behind');
  } finally {
    tmp.remove();
    own.remove();
  }
});

for (const kind of ['a Node worker and a standby', 'a non-Node worker (shim) with a child of its own'] as const) {
  test(`SIGKILL of eh run itself leaves no process behind: ${kind}`, async () => {
    const tmp = tempDir();
    try {
      let script = GROUP_WAIT;
      let args = ['--standby-workers', '1'];
      if (kind !== 'a Node worker and a standby') {
        // A shell worker that starts a long child of its own, then says it is ready.
        script = join(tmp.path, 'worker.sh');
        writeFileSync(script, '#!/bin/sh\nsleep 300 &\necho "{\\"pid\\": $$, \\"sockets\\": [], \\"store\\": \\"\\"}" > "$OUT_DIR/ready-rank$RANK"\nwait\n');
        chmodSync(script, 0o755);
        args = [];
      }
      const agent = startAgent(['--standalone', '--nproc-per-node', '1', ...args, script], { OUT_DIR: tmp.path });
      await waitFor('the worker ready', () => readyOf(tmp.path, [0]), 30_000);
      const agentPid = agent.child.pid as number;
      // The standby has started once the agent has two Node children; the shell worker's sleep is a grandchild of the shim.
      const below = await waitFor('every process of the job started', () => {
        const d = descendants(agentPid);
        return d.length >= 2 ? d : undefined;
      }, 20_000);
      agent.child.kill('SIGKILL');
      await agent.exited(5000);
      await waitFor(`the job's processes (${below.join(', ')}) gone`, () => below.every((p) => !pidAlive(p)), 10_000);
    } finally {
      tmp.remove();
    }
  });
}

/** Send `bytes` and wait for the peer to close; answers whether it did and how many bytes came back. */
function sendGarbage(where: net.NetConnectOpts, bytes: Buffer): Promise<{ closed: boolean; got: number }> {
  return new Promise((resolve) => {
    let got = 0;
    const s = net.connect(where, () => s.write(bytes));
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ closed: false, got });
    }, 15_000);
    s.on('data', (d: Buffer) => (got += d.length));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, got });
    });
  });
}

test('garbage to the TCP store port and to a worker\'s collective socket: the connection is dropped, the job finishes right', async () => {
  const tmp = tempDir();
  try {
    const agent = startAgent(['--standalone', '--nproc-per-node', '2', GROUP_WAIT], { OUT_DIR: tmp.path });
    const ready = await waitFor('both workers in the group', () => readyOf(tmp.path, [0, 1]), 30_000);
    const [host, port] = [ready[0].store.slice(0, ready[0].store.lastIndexOf(':')), Number(ready[0].store.slice(ready[0].store.lastIndexOf(':') + 1))];
    assert.ok(port > 0, `the store's endpoint: ${ready[0].store}`);
    // A frame header announcing a huge body, then random bytes; and plain random bytes to each rank's socket.
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(0xffffffff, 0);
    const results = [
      await sendGarbage({ host, port }, Buffer.concat([huge, randomBytes(4096)])),
      await sendGarbage({ host, port }, randomBytes(70_000)),
      ...(await Promise.all(ready.map((r) => sendGarbage({ path: r.sockets[0] }, randomBytes(4096))))),
    ];
    for (const [i, r] of results.entries()) {
      assert.equal(r.closed, true, `connection ${i} dropped`);
      assert.equal(r.got, 0, `connection ${i} was sent nothing`);
    }
    writeFileSync(join(tmp.path, 'go'), '');
    const { code } = await agent.exited(30_000);
    assert.equal(code, 0, agent.stderr());
    const events = readIf(join(tmp.path, 'events.log')) ?? '';
    for (const r of [0, 1]) assert.match(events, new RegExp(`rank=${r} sum=3,20\\n`));
    assert.match(agent.stderr(), /all 2 local workers succeeded/);
    assert.doesNotMatch(agent.stderr(), /restart count [1-9]/, 'no worker failed');
  } finally {
    tmp.remove();
  }
});

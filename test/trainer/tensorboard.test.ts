import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { crc32c } from '@aws-crypto/crc32c';
import { TensorBoardWriter } from '../../src/trainer/index.js';

// An independent reader: its own proto text (field numbers from TensorFlow's event.proto and
// summary.proto), its own framing and masking code.
const READER_PROTO = `
syntax = "proto3";
message Value { string tag = 1; float simple_value = 2; }
message Summary { repeated Value value = 1; }
message SessionLog { int32 status = 1; string checkpoint_path = 2; string msg = 3; }
message Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; SessionLog session_log = 7; }
`;
const Event = protobuf.parse(READER_PROTO, { keepCase: true }).root.lookupType('Event');

function masked(data: Uint8Array): number {
  const c = crc32c(data) >>> 0;
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

interface ReadEvent {
  wall_time: number;
  step: number;
  file_version?: string;
  summary?: { value: Array<{ tag: string; simple_value: number }> };
  session_log?: { status: number; msg: string };
}

function readEvents(path: string): ReadEvent[] {
  const buf = readFileSync(path);
  const events: ReadEvent[] = [];
  let off = 0;
  while (off < buf.length) {
    assert.ok(off + 12 <= buf.length, 'a whole header');
    const len = Number(buf.readBigUInt64LE(off));
    assert.equal(buf.readUInt32LE(off + 8), masked(buf.subarray(off, off + 8)), `length CRC of the record at ${off}`);
    const data = buf.subarray(off + 12, off + 12 + len);
    assert.equal(data.length, len, 'a whole record');
    assert.equal(buf.readUInt32LE(off + 12 + len), masked(data), `data CRC of the record at ${off}`);
    const msg = Event.decode(data);
    events.push(Event.toObject(msg, { longs: Number, defaults: false }) as ReadEvent);
    off += 12 + len + 4;
  }
  return events;
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('TensorBoard event files', () => {
  it('CRC-32C test vector', () => {
    assert.equal((crc32c(Buffer.from('123456789')) >>> 0).toString(16), 'e3069283');
  });

  it('an independent reader finds file_version first, the scalars, and SessionLog START at the resumed step', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eh-tb-'));
    dirs.push(dir);
    const w = new TensorBoardWriter({ logDir: dir });
    w.addScalars({ 'train/loss': 2.5, 'train/lr': 0.001 }, 1);
    w.addScalar('train/loss', 1.25, 2);
    w.sessionStart(1);
    w.addScalar('train/loss', 1.5, 2);
    w.close();
    const files = readdirSync(dir);
    assert.equal(files.length, 1);
    assert.match(files[0], new RegExp(`^events\\.out\\.tfevents\\.\\d{10}\\.${hostname().replace(/[.]/g, '\\.')}\\.${process.pid}$`));
    const events = readEvents(join(dir, files[0]));
    assert.equal(events[0].file_version, 'brain.Event:2');
    assert.equal(events.length, 5);
    assert.deepEqual(events[1].summary?.value.map((v) => [v.tag, v.simple_value]), [['train/loss', 2.5], ['train/lr', Math.fround(0.001)]]);
    assert.equal(events[1].step, 1);
    assert.equal(events[2].step, 2);
    assert.equal(events[3].session_log?.status, 1, 'SessionLog START');
    assert.equal(events[3].step, 1);
    assert.ok(Math.abs(events[3].wall_time - Date.now() / 1000) < 60);
  });

  it('a corrupt byte is caught by the reader (the check can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eh-tb-'));
    dirs.push(dir);
    const w = new TensorBoardWriter({ logDir: dir });
    w.addScalar('x', 1, 1);
    w.close();
    const path = join(dir, readdirSync(dir)[0]);
    const buf = readFileSync(path);
    buf[buf.length - 6] ^= 0xff;
    const bad = join(dir, 'corrupt');
    rmSync(path);
    writeFileSync(bad, buf);
    assert.throws(() => readEvents(bad), /data CRC/);
  });
});

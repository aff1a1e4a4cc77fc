import { closeSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FileAuditSink, verifyAuditLog } from '../src/index.js';
import { entry, tmpLog } from './helpers.js';

/** A log of about `bytes` bytes in its active file, closed. */
async function bigLog(bytes: number, hmacKey?: string): Promise<{ path: string; n: number }> {
  const { path } = tmpLog();
  const sink = await FileAuditSink.open(path, { durability: 'none', maxBytes: 1 << 30, hmacKey });
  let n = 0;
  while (statSync(path).size < bytes) {
    const batch = [];
    for (let k = 0; k < 512; k++) batch.push(sink.append(entry(++n, { decisionId: `d${n}`, ruleId: n % 7 === 0 ? 'r7' : null, appliedRules: [] })));
    await Promise.all(batch);
  }
  await sink.close();
  return { path, n };
}

/** Overwrites bytes at `offset` in place. */
function poke(path: string, offset: number, text: string): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, text, offset);
  } finally {
    closeSync(fd);
  }
}

/** Byte offset of the line holding `seq`. */
function offsetOf(path: string, seq: number): number {
  const text = readFileSync(path, 'latin1');
  return text.indexOf(`{"seq":${seq},`);
}

describe('open resumes the chain from the end of the file', () => {
  it('a 3 MB log opens from its end, continues the chain, and verifies', async () => {
    const { path, n } = await bigLog(3_000_000, 'k');
    const sink = await FileAuditSink.open(path, { hmacKey: 'k' });
    expect(sink.lastSeq).toBe(n);
    expect(sink.recovery).toEqual({ movedAside: [], completedRotation: false, createdFile: false });
    await sink.append(entry(n + 1));
    expect(sink.stats).toMatchObject({ entries: 1 });
    await sink.close();
    expect(await verifyAuditLog(path, { hmacKey: 'k' })).toMatchObject({ ok: true, lastSeq: n + 1, files: 1 });
  });

  it('finds a torn tail at the end of a large file and moves it aside', async () => {
    const { path, n } = await bigLog(2_000_000);
    const size = statSync(path).size;
    poke(path, size, '{"seq":99999,"timestamp":1,"operation":"wr');
    const sink = await FileAuditSink.open(path);
    expect(sink.recovery.movedAside).toEqual([expect.objectContaining({ reason: 'torn_tail', offset: size, bytes: 42 })]);
    expect(sink.lastSeq).toBe(n);
    await sink.close();
    expect(statSync(path).size).toBe(size);
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, lastSeq: n });
  });

  it('damage in the last 256 KiB: the full scan takes over and refuses (or repairs) as before', async () => {
    const { path, n } = await bigLog(2_000_000);
    const at = offsetOf(path, n - 10);
    poke(path, at + 20, 'X');
    await expect(FileAuditSink.open(path)).rejects.toMatchObject({ code: 'corrupt', offset: at });
    const sink = await FileAuditSink.open(path, { repair: true });
    expect(sink.lastSeq).toBe(n - 11);
    expect(sink.recovery.movedAside).toEqual([expect.objectContaining({ reason: 'repair', offset: at })]);
    await sink.close();
  });

  it('damage in the middle of a large file: open does not read it, verify reports it', async () => {
    const { path, n } = await bigLog(2_000_000);
    const at = offsetOf(path, 100);
    poke(path, at + readFileSync(path, 'latin1').slice(at).indexOf('users/u') + 1, 'X'); // inside the key: still a valid record
    const sink = await FileAuditSink.open(path);
    expect(sink.lastSeq).toBe(n);
    await sink.append(entry(n + 1));
    const r = await sink.verify();
    await sink.close();
    expect(r).toMatchObject({ ok: false, problem: { seq: 100, reason: 'edited', offset: at } });
  });

  it('a wrong key is still refused at once', async () => {
    const { path } = await bigLog(1_000_000, 'right');
    await expect(FileAuditSink.open(path, { hmacKey: 'wrong' })).rejects.toMatchObject({ code: 'wrong_key' });
    await expect(FileAuditSink.open(path)).rejects.toMatchObject({ code: 'key_required' });
  });
});

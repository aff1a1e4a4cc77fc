import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AuditFileError, FileAuditSink, verifyAuditLog } from '../src/index.js';
import { entry, readLines, tmpLog } from './helpers.js';

describe('group commit', () => {
  it("with 'always', 64 concurrent appends share a handful of writes and fsyncs", async () => {
    const sink = await FileAuditSink.open(tmpLog().path);
    const seqs = await Promise.all(Array.from({ length: 64 }, (_, i) => sink.write(entry(i))));
    expect(seqs).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
    const { entries, writes, fsyncs } = sink.stats;
    expect(entries).toBe(64);
    expect(writes).toBeLessThanOrEqual(2);
    expect(fsyncs).toBeLessThanOrEqual(2);
    await sink.close();
  });

  it('64 writers appending in loops: every entry acknowledged once, in one gapless chain, far fewer fsyncs than entries', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    const acked: number[] = [];
    await Promise.all(
      Array.from({ length: 64 }, async (_, w) => {
        for (let i = 0; i < 20; i++) acked.push(await sink.write(entry(w * 100 + i)));
      }),
    );
    expect(acked.sort((a, b) => a - b)).toEqual(Array.from({ length: 1280 }, (_, i) => i + 1));
    expect(sink.stats.fsyncs).toBeLessThan(1280 / 8);
    await sink.close();
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, lastSeq: 1280 });
  });

  it("'none' writes without fsync and 'interval' fsyncs later; flush() and close() fsync", async () => {
    const none = await FileAuditSink.open(tmpLog().path, { durability: 'none' });
    for (let i = 0; i < 10; i++) await none.append(entry(i));
    expect(none.stats).toMatchObject({ entries: 10, fsyncs: 0 });
    // Written (a process crash would not lose it), though not fsync'd.
    expect(readLines(none.path)).toHaveLength(11);
    await none.flush();
    expect(none.stats.fsyncs).toBe(1);
    await none.close();

    const interval = await FileAuditSink.open(tmpLog().path, { durability: 'interval', intervalMs: 20 });
    await interval.append(entry(1));
    expect(interval.stats.fsyncs).toBe(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(interval.stats.fsyncs).toBe(1);
    await interval.append(entry(2));
    await interval.close();
    expect(interval.stats.fsyncs).toBe(2);
  });

  it('a batch larger than maxBytes is split across files', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path, { maxBytes: 1024 });
    await Promise.all(Array.from({ length: 40 }, (_, i) => sink.append(entry(i))));
    expect(sink.stats.rotations).toBeGreaterThan(5);
    await sink.close();
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, lastSeq: 40 });
  });
});

describe('closing', () => {
  it('flushes pending appends; later calls reject with code closed', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path, { durability: 'none' });
    const pending = Array.from({ length: 5 }, (_, i) => sink.append(entry(i)));
    await sink.close();
    await Promise.all(pending);
    expect(readLines(path)).toHaveLength(6);
    await expect(sink.append(entry(9))).rejects.toMatchObject({ code: 'closed' });
    await expect(sink.query({})).rejects.toBeInstanceOf(AuditFileError);
    await expect(sink.flush()).rejects.toMatchObject({ code: 'closed' });
    await sink.close(); // twice is fine
    expect(sink.closed).toBe(true);
  });
});

describe('bad input', () => {
  it('rejects entries that cannot be written canonically, naming the field; nothing is written', async () => {
    const sink = await FileAuditSink.open(tmpLog().path);
    await expect(sink.append({ ...entry(1), timestamp: Number.NaN })).rejects.toThrow(/entry\.timestamp/);
    await expect(sink.append({ ...entry(1), result: 'maybe' as never })).rejects.toThrow(RangeError);
    await expect(sink.append({ ...entry(1), operation: 'scan' as never })).rejects.toThrow(/entry\.operation/);
    await expect(sink.append({ ...entry(1), agentId: 7 as never })).rejects.toThrow(/entry\.agentId/);
    await expect(sink.append(null as never)).rejects.toThrow(TypeError);
    expect(sink.lastSeq).toBe(0);
    await sink.close();
  });

  it('rejects bad options with TypeError/RangeError naming the option', async () => {
    const { path } = tmpLog();
    await expect(FileAuditSink.open(path, { durability: 'sometimes' as never })).rejects.toThrow(/options\.durability/);
    await expect(FileAuditSink.open(path, { maxBytes: 10 })).rejects.toThrow(RangeError);
    await expect(FileAuditSink.open(path, { maxFiles: 0 })).rejects.toThrow(/options\.maxFiles/);
    await expect(FileAuditSink.open(path, { intervalMs: -1 })).rejects.toThrow(/options\.intervalMs/);
    await expect(FileAuditSink.open(path, { hmacKey: '' })).rejects.toThrow(/options\.hmacKey/);
    await expect(FileAuditSink.open(path, { hmacKey: 42 as never })).rejects.toThrow(TypeError);
    await expect(FileAuditSink.open('' as never)).rejects.toThrow(/path/);
    await expect(FileAuditSink.open(`${path}/nested/missing/audit.log`)).rejects.toMatchObject({ code: 'io' });
  });
});

describe('the file on disk', () => {
  it('uses the seed field names, seq and the hash chain, one canonical JSON object per line', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    await sink.append({ timestamp: 5, operation: 'read', key: 'a"b\n\u00e9', agentId: null, sessionId: 's', result: 'redacted' });
    await sink.close();
    const [header, line] = readLines(path).map((l) => JSON.parse(l));
    expect(header).toMatchObject({ type: 'header', version: 2, alg: 'sha256', seq: 0, prev: '0'.repeat(64) });
    expect(Object.keys(line)).toEqual(['seq', 'timestamp', 'operation', 'key', 'agent_id', 'session_id', 'result', 'prev', 'hash']);
    expect(line).toMatchObject({ seq: 1, timestamp: 5, operation: 'read', key: 'a"b\n\u00e9', agent_id: null, session_id: 's', result: 'redacted', prev: header.hash });
    expect(readFileSync(path, 'utf8').split('\n')[1]).toBe(
      `{"seq":1,"timestamp":5,"operation":"read","key":"a\\"b\\n\u00e9","agent_id":null,"session_id":"s","result":"redacted","prev":"${header.hash}","hash":"${line.hash}"}`,
    );
  });
});

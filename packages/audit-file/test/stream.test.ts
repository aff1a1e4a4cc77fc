/**
 * Streaming reads (issue 17): readAuditLog and FileAuditSink.records/entries. Ordering,
 * filters, cursors, early exit (descriptors released), AbortSignal, follow across rotations,
 * and the `dropped` counter.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileAuditSink, queryAuditLog, readAuditLog, type AuditReadOptions, type AuditRecordView } from '../src/index.js';
import { entry, tmpLog } from './helpers.js';

async function all(path: string, options: AuditReadOptions = {}): Promise<AuditRecordView[]> {
  const out: AuditRecordView[] = [];
  for await (const r of readAuditLog(path, options)) out.push(r);
  return out;
}
const seqs = (rs: AuditRecordView[]) => rs.map((r) => r.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
/** Descriptors this process has open. */
/**
 * Descriptors this process holds on the log's files (its folder). Counting every descriptor
 * would also count what other code in the worker opens or closes meanwhile.
 */
const openFds = (path: string): number => {
  const folder = dirname(path);
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(folder)) n++;
    } catch {
      // closed while listing
    }
  }
  return n;
};

/** A log of `n` entries (seq i+1 holds entry(i)); `maxBytes` small makes many rotated files. */
async function makeLog(n: number, options: { maxBytes?: number; maxFiles?: number } = {}): Promise<string> {
  const { path } = tmpLog();
  const sink = await FileAuditSink.open(path, { durability: 'none', ...options });
  await Promise.all(Array.from({ length: n }, (_, i) => sink.append(entry(i))));
  await sink.close();
  return path;
}

describe('readAuditLog', () => {
  it('yields every entry oldest first, or newest first, across rotated files', async () => {
    const path = await makeLog(600, { maxBytes: 8 * 1024 });
    expect(readdirSync(tmpDir(path)).length).toBeGreaterThan(10);
    const asc = await all(path);
    expect(seqs(asc)).toEqual(range(1, 600));
    expect(asc[0]).toMatchObject({ seq: 1, ...entry(0) });
    expect(asc[0]!.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(seqs(await all(path, { order: 'desc' }))).toEqual(range(1, 600).reverse());
  });

  it('applies the filters of query: the same entries as query with a limit above their number', async () => {
    const path = await makeLog(500, { maxBytes: 16 * 1024 });
    const since = entry(100).timestamp;
    const until = entry(400).timestamp;
    for (const f of [{}, { agentId: 'agent_1' }, { operation: 'delete' as const }, { result: 'denied' as const, since }, { sessionId: undefined, until, agentId: 'agent_0' }, { agentId: 'nobody' }]) {
      const expected = await queryAuditLog(path, { ...f, limit: 10_000 });
      expect(await all(path, f)).toEqual(expected);
      expect(await all(path, { ...f, order: 'desc' })).toEqual([...expected].reverse());
    }
  });

  it('limit counts in iteration order; limit 0 yields nothing', async () => {
    const path = await makeLog(50);
    expect(seqs(await all(path, { limit: 3 }))).toEqual([1, 2, 3]);
    expect(seqs(await all(path, { limit: 3, order: 'desc' }))).toEqual([50, 49, 48]);
    expect(seqs(await all(path, { limit: 2, agentId: 'agent_1' }))).toEqual([2, 4]);
    expect(await all(path, { limit: 0 })).toEqual([]);
  });

  it('resumes from a cursor (a seq) in both orders, with filters, page by page across files', async () => {
    const path = await makeLog(400, { maxBytes: 8 * 1024 });
    for (const order of ['asc', 'desc'] as const) {
      const whole = seqs(await all(path, { order, result: 'allowed' }));
      const got: number[] = [];
      let after: string | undefined;
      for (;;) {
        const reader = readAuditLog(path, { order, result: 'allowed', limit: 37, after });
        const page = await reader.nextv(1000);
        await reader.close();
        if (page.length === 0) break;
        got.push(...seqs(page));
        after = reader.cursor;
        expect(after).toBe(String(page.at(-1)!.seq));
      }
      expect(got).toEqual(whole);
    }
    expect(seqs(await all(path, { after: 395 }))).toEqual([396, 397, 398, 399, 400]);
    expect(seqs(await all(path, { after: 5, order: 'desc' }))).toEqual([4, 3, 2, 1]);
    expect(await all(path, { after: 400 })).toEqual([]);
    expect(await all(path, { after: 1, order: 'desc' })).toEqual([]);
  });

  it('finds a cursor in a large file by bisection: reads a few blocks, not the file', async () => {
    const path = await makeLog(40_000); // one file of about 12 MB
    for (const order of ['asc', 'desc'] as const) {
      const reader = readAuditLog(path, { order, after: 20_000, limit: 5 });
      const page = await reader.nextv(10);
      expect(seqs(page)).toEqual(order === 'asc' ? [20_001, 20_002, 20_003, 20_004, 20_005] : [19_999, 19_998, 19_997, 19_996, 19_995]);
      expect(reader.stats.bytesRead).toBeLessThan(1024 * 1024);
      await reader.close();
    }
  });

  it('break, return and close release every descriptor; later calls reject with iterator_closed', async () => {
    const path = await makeLog(3000, { maxBytes: 64 * 1024 });
    const before = openFds(path);
    for (const order of ['asc', 'desc'] as const) {
      const reader = readAuditLog(path, { order });
      let n = 0;
      for await (const _ of reader) if (++n === 10) break;
      expect(openFds(path)).toBe(before);
      await expect(reader.next()).rejects.toMatchObject({ code: 'iterator_closed' });
      const other = readAuditLog(path, { order });
      await other.nextv(5);
      expect(openFds(path)).toBeGreaterThan(before);
      await other.close();
      expect(openFds(path)).toBe(before);
    }
    // A throw in the loop body closes it too.
    const reader = readAuditLog(path);
    await expect(
      (async () => {
        for await (const _ of reader) throw new Error('consumer failed');
      })(),
    ).rejects.toThrow('consumer failed');
    expect(reader.closed).toBe(true);
    expect(openFds(path)).toBe(before);
  });

  it('one call at a time: a second pending call rejects with iterator_busy', async () => {
    const path = await makeLog(100);
    const reader = readAuditLog(path);
    const first = reader.next();
    await expect(reader.next()).rejects.toMatchObject({ code: 'iterator_busy' });
    await expect(reader.nextv(3)).rejects.toMatchObject({ code: 'iterator_busy' });
    expect((await first)?.seq).toBe(1);
    expect((await reader.next())?.seq).toBe(2);
    await reader.close();
  });

  it('an aborted signal ends the read with its reason and closes the files', async () => {
    const path = await makeLog(2000);
    const before = openFds(path);
    const controller = new AbortController();
    const reader = readAuditLog(path, { signal: controller.signal, maxBuffered: 10 });
    expect((await reader.nextv(5)).length).toBe(5);
    controller.abort(new Error('export cancelled'));
    await expect(reader.next()).rejects.toThrow('export cancelled');
    await reader.close();
    expect(openFds(path)).toBe(before);
    await expect(readAuditLog(path, { signal: AbortSignal.abort() }).next()).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('holds at most maxBuffered entries: nextv hands out batches no larger', async () => {
    const path = await makeLog(1000);
    const reader = readAuditLog(path, { maxBuffered: 64 });
    let total = 0;
    for (let batch = await reader.nextv(10_000); batch.length > 0; batch = await reader.nextv(10_000)) {
      expect(batch.length).toBeLessThanOrEqual(64);
      total += batch.length;
    }
    expect(total).toBe(1000);
    expect(reader.stats).toMatchObject({ entries: 1000, maxBuffered: 64, dropped: 0 });
  });

  it('counts as dropped the entries of files retention removed before the reader got there', async () => {
    const path = await makeLog(300, { maxBytes: 4 * 1024, maxFiles: 2 });
    const first = (await all(path, { limit: 1 }))[0]!.seq;
    expect(first).toBeGreaterThan(50);
    const reader = readAuditLog(path, { after: 10 });
    expect((await reader.next())?.seq).toBe(first);
    expect(reader.stats.dropped).toBe(first - 11);
    await reader.close();
    // Without a cursor there is nothing to compare with: a log that starts late drops nothing.
    const fresh = readAuditLog(path);
    await fresh.next();
    expect(fresh.stats.dropped).toBe(0);
    await fresh.close();
  });

  it('rejects bad options', () => {
    expect(() => readAuditLog('')).toThrow(TypeError);
    expect(() => readAuditLog('x', { order: 'up' as 'asc' })).toThrow(RangeError);
    expect(() => readAuditLog('x', { after: -1 })).toThrow(TypeError);
    expect(() => readAuditLog('x', { after: 'abc' })).toThrow(TypeError);
    expect(() => readAuditLog('x', { limit: 1.5 })).toThrow(RangeError);
    expect(() => readAuditLog('x', { follow: true, order: 'desc' })).toThrow(RangeError);
    expect(() => readAuditLog('x', { maxBuffered: 0 })).toThrow(RangeError);
  });
});

describe('follow', () => {
  it('yields entries as they are appended, across rotations, in order and once each', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path, { durability: 'none', maxBytes: 4 * 1024 });
    for (let i = 0; i < 20; i++) await sink.append(entry(i));
    const controller = new AbortController();
    const reader = readAuditLog(path, { after: 15, follow: true, pollMs: 10, signal: controller.signal });
    const got: number[] = [];
    const consumer = (async () => {
      try {
        for (;;) for (const r of await reader.nextv(100)) got.push(r.seq);
      } catch (error) {
        return error;
      }
    })();
    // Appends in bursts, each crossing several rotations.
    for (let burst = 0; burst < 5; burst++) {
      await Promise.all(Array.from({ length: 60 }, (_, i) => sink.append(entry(20 + burst * 60 + i))));
      await new Promise((r) => setTimeout(r, 15));
    }
    await sink.flush();
    // Positions 16 to 320: the 20 entries before the reader started, less the first 15, and the 300 after.
    const want = range(16, 320);
    const deadline = Date.now() + 10_000;
    while (got.length < want.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    expect((await consumer as Error).name).toBe('AbortError');
    expect(got).toEqual(want);
    expect(reader.stats.dropped).toBe(0);
    expect(reader.closed).toBe(true);
    await sink.close();
  });
});

describe('FileAuditSink streaming', () => {
  it('records() and entries() read what was written, seq and cursor included; supports.stream', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path, { durability: 'none', maxBytes: 4 * 1024 });
    await Promise.all(Array.from({ length: 200 }, (_, i) => sink.append(entry(i))));
    expect(sink.supports).toEqual({ stream: true, decisionFields: true });
    expect(seqs(await (async () => {
      const out: AuditRecordView[] = [];
      for await (const r of sink.records({ agentId: 'agent_1', order: 'desc', limit: 3 })) out.push(r);
      return out;
    })())).toEqual([200, 198, 196]);
    const it = sink.entries({ after: '190' });
    const rest = await it.nextv(100);
    expect(rest).toEqual(Array.from({ length: 10 }, (_, i) => entry(190 + i)));
    expect(it.cursor).toBe('200');
    await it.close();
    await sink.close();
    expect(() => sink.entries()).toThrow(/closed/);
  });
});

function tmpDir(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}

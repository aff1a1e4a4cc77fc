import { open } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { linesBackward, linesForward } from '../src/read/line-reader.js';
import { FileAuditSink, queryAuditLog } from '../src/index.js';
import { openSource } from '../src/read/source.js';
import { entry, forAnyLinesFile, tmpLog } from './helpers.js';

async function collect<T>(gen: AsyncGenerator<T, unknown>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of gen) out.push(x);
  return out;
}

describe('block readers', () => {
  it('read the same lines, forwards and backwards, for any line lengths and block size', async () => {
    const { path } = tmpLog('lines.txt');
    await forAnyLinesFile(
      path,
      async ({ lines, tail, block, text, size, src }) => {
        const back = (await collect(linesBackward(src, size, block))).map((l) => l.bytes.toString());
        expect(back).toEqual([...lines].reverse());
        const fwd = linesForward(src, size, block);
        const got: string[] = [];
        let next = await fwd.next();
        for (; !next.done; next = await fwd.next()) got.push(next.value.bytes.toString());
        expect(got).toEqual(lines);
        expect(next.value.tail.bytes.toString()).toBe(tail);
        // Offsets point at each line's first byte.
        for (const l of await collect(linesBackward(src, size, block))) {
          expect(text.slice(l.offset).startsWith(l.bytes.toString() + '\n')).toBe(true);
        }
      },
      150,
    );
  });
});

describe('query', () => {
  it('reads only the end of a large log for a small limit', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path, { durability: 'none' });
    await Promise.all(Array.from({ length: 20_000 }, (_, i) => sink.append(entry(i))));
    await sink.close();
    const fh = await open(path, 'r');
    const size = (await fh.stat()).size;
    await fh.close();
    expect(size).toBeGreaterThan(4 * 1024 * 1024);
    // A reader that counts the bytes it is asked for.
    const src = (await openSource(path))!;
    let bytesRead = 0;
    const counting = { ...src, readAt: async (b: Buffer, o: number, l: number, p: number) => ((bytesRead += l), src.readAt(b, o, l, p)) };
    const got: string[] = [];
    for await (const line of linesBackward(counting, size)) {
      got.push(line.bytes.toString());
      if (got.length === 10) break;
    }
    await src.close();
    expect(bytesRead).toBeLessThanOrEqual(64 * 1024);
    expect((await queryAuditLog(path, { limit: 3 })).map((r) => r.seq)).toEqual([19_998, 19_999, 20_000]);
  });

  it('finds old matches across rotated files, newest limit first, with seq and hash', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path, { maxBytes: 2048 });
    for (let i = 0; i < 60; i++) await sink.append(entry(i, { agentId: i === 3 || i === 50 ? 'rare' : 'common' }));
    const records = await sink.queryRecords({ agentId: 'rare' });
    expect(records.map((r) => [r.seq, r.key])).toEqual([
      [4, 'users/u3/doc'],
      [51, 'users/u50/doc'],
    ]);
    expect(records[0]!.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(await sink.query({ agentId: 'rare', limit: 1 })).toEqual([entry(50, { agentId: 'rare' })]);
    await sink.close();
  });

  it('handles keys longer than a read block', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    const long = 'k/'.padEnd(200_000, 'x');
    await sink.append(entry(1));
    await sink.append(entry(2, { key: long }));
    await sink.append(entry(3));
    expect((await sink.query({})).map((e) => e.key.length)).toEqual([entry(1).key.length, 200_000, entry(3).key.length]);
    expect((await sink.verify()).ok).toBe(true);
    await sink.close();
  });

  it('stays consistent while appends and rotations run', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path, { maxBytes: 1024, durability: 'none' });
    const writing = (async () => {
      for (let i = 0; i < 400; i++) await sink.append(entry(i));
    })();
    for (let n = 0; n < 30; n++) {
      const got = await sink.queryRecords({ limit: 5 });
      for (let i = 1; i < got.length; i++) expect(got[i]!.seq).toBe(got[i - 1]!.seq + 1);
    }
    await writing;
    expect((await sink.verify()).ok).toBe(true);
    await sink.close();
  });
});

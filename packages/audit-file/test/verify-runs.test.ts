import type { AuditEntry } from '@sochdb-policy/core';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FileAuditSink, verifyAuditLog } from '../src/index.js';
import { blocksForward, linesForward } from '../src/read/line-reader.js';
import { logFiles } from '../src/read/log-files.js';
import { verifyFiles, type VerifyOptions, type VerifyTuning } from '../src/read/verify.js';
import { makeHasher } from '../src/hasher.js';
import { entryBody, GENESIS_HASH, headerBody, lineOf } from '../src/record.js';
import { entry, forAnyLinesFile, readLines, rehash, tmpLog, writeLines } from './helpers.js';

// verify checks runs of entries a block at a time (scanRun) and takes every other line the
// long way. Its answers must be exactly those of the long way for every line.

const verifyWith = async (path: string, options: VerifyOptions, tuning: VerifyTuning) => verifyFiles(await logFiles(path), options, tuning);

describe('blocksForward', () => {
  it('yields the lines and tail of linesForward, whole lines per block, for any line lengths and block size', async () => {
    const { path } = tmpLog('lines.txt');
    await forAnyLinesFile(
      path,
      async ({ src, size, block }) => {
        const want: [string, number][] = [];
        const fwd = linesForward(src, size, block);
        let n = await fwd.next();
        for (; !n.done; n = await fwd.next()) want.push([n.value.bytes.toString(), n.value.offset]);
        const got: [string, number][] = [];
        const blocks = blocksForward(src, size, block);
        let b = await blocks.next();
        for (; !b.done; b = await blocks.next()) {
          const { buf, end, offset } = b.value;
          expect(buf[end - 1]).toBe(0x0a);
          for (let pos = 0; pos < end; ) {
            const nl = buf.indexOf(0x0a, pos);
            got.push([buf.subarray(pos, nl).toString(), offset + pos]);
            pos = nl + 1;
          }
        }
        expect(got).toEqual(want);
        expect([b.value.tail.bytes.toString(), b.value.tail.offset]).toEqual([n.value.tail.bytes.toString(), n.value.tail.offset]);
      },
      150,
    );
  });
});

let seed = 7;
const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
const PIECES = ['a', 'é', '"', '\\', '\n', '\u0001', '\u2028', '\ud800', '😀', '/', 'users/', 'x'.repeat(50)];
const text = () => Array.from({ length: rand(5) }, () => PIECES[rand(PIECES.length)]).join('');

function randomEntry(i: number): AuditEntry {
  const e = entry(i, { key: rand(4) === 0 ? text() : `users/u${i}/doc` });
  if (rand(3) > 0) Object.assign(e, { decisionId: `018bcfe5-6805-7000-8000-${String(i).padStart(12, '0')}`, ruleId: rand(2) ? null : 'r1', appliedRules: rand(2) ? [] : ['r1', text()] });
  if (rand(5) === 0) Object.assign(e, { shadowRuleId: text(), shadowAction: 'deny' });
  if (rand(3) === 0) e.batchId = `b${rand(3)}`;
  if (rand(20) === 0) e.timestamp = 1.5; // left to parseLine: breaks a run
  return e;
}

/** Damage of every kind verify tells apart, and some it calls malformed. */
function mutate(lines: string[]): string[] {
  const out = [...lines];
  const i = rand(out.length);
  const j = rand(out.length);
  switch (1 + rand(10)) {
    case 1:
      out.splice(i, 1);
      break;
    case 2:
      [out[i], out[j]] = [out[j]!, out[i]!];
      break;
    case 3:
      out.splice(i, 0, out[j]!);
      break;
    case 4:
      out[i] = out[i]!.slice(0, rand(out[i]!.length));
      break;
    case 5: // non-canonical, rehashed
      out[i] = rehash(out[i]!.replace('":', '": '));
      break;
    case 6:
      out[i] = rehash(out[i]!.replace('"key":"users/', '"key":"users\\/'));
      break;
    case 7: // a field edited, hash recomputed
      out[i] = rehash(out[i]!.replace(/"agent_id":"agent_\d"/, '"agent_id":"agent_9"'));
      break;
    case 8:
      out.splice(i, 0, 'not a record');
      break;
    case 9:
      out.splice(i, 2);
      break;
    default:
      out[i] = out[i]!.replace('"seq":', '"seq":1');
  }
  return out;
}

describe('verify: runs of entries against the long way for every line', () => {
  it('gives the same result for intact and damaged logs, any block size, with and without a key or an anchor', async () => {
    for (let round = 0; round < 60; round++) {
      const { path } = tmpLog();
      const hmacKey = rand(3) === 0 ? 'k' : undefined;
      const sink = await FileAuditSink.open(path, { hmacKey, maxBytes: rand(2) ? 4096 : 1 << 20 });
      const n = 20 + rand(60);
      for (let i = 1; i <= n; i++) await sink.append(randomEntry(i));
      const anchor = rand(3) === 0 ? { seq: 1 + rand(n), hash: sink.lastHash } : undefined;
      await sink.close();
      const files = [path, ...Array.from({ length: 40 }, (_, k) => `${path}.${k + 1}`)].filter((f) => {
        try {
          readFileSync(f);
          return true;
        } catch {
          return false;
        }
      });
      const target = files[rand(files.length)]!;
      if (round % 6 !== 0) {
        const mutated = mutate(readLines(target));
        if (rand(4) === 0) writeFileSync(target, mutated.join('\n')); // and a torn last line
        else writeLines(target, mutated);
        if (rand(3) === 0) {
          // A byte changed anywhere (invalid UTF-8 included).
          const bytes = readFileSync(target);
          if (bytes.length > 0) bytes[rand(bytes.length)] = rand(256);
          writeFileSync(target, bytes);
        }
      }
      const options = { hmacKey, anchor };
      const reference = await verifyWith(path, options, { runs: false });
      for (const blockSize of [64, 500, undefined]) {
        expect(await verifyWith(path, options, { blockSize }), `round ${round}, block ${blockSize}`).toEqual(reference);
      }
      if (round % 6 === 0 && anchor === undefined) expect(reference).toMatchObject({ ok: true, lastSeq: n });
    }
  });

  it('a line rewritten in another form that parses to the same values is reported (malformed: not canonical), whatever its hash', async () => {
    // docs/audit-file-format.md: the hash covers the bytes as they are, and this package's
    // verifier also checks that every line is canonical, to reject rewritten lines.
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    for (let i = 1; i <= 5; i++) await sink.append(entry(i, { decisionId: `d${i}`, batchId: 'b1' }));
    await sink.close();
    const good = readLines(path);
    const rewrites = [
      (l: string) => l.replace('"key":"users/', '"key":"users\\/'), // an escape JSON.stringify does not write
      (l: string) => l.replace('"key":"users/', '"key":"\\u0075sers/'),
      (l: string) => l.replace('"operation":', '"operation": '), // whitespace
      (l: string) => l.replace(/"timestamp":(\d+)/, '"timestamp":$1.0'), // the same number, another form
      (l: string) => l.replace(/"timestamp":(\d+)/, (_, t: string) => `"timestamp":${t.slice(0, 1)}.${t.slice(1)}e${t.length - 1}`),
      (l: string) => l.replace('"batch_id":"b1"', '"batch_id":"\\u0062\\u0031"'),
    ];
    for (const rewrite of rewrites) {
      const line = rewrite(good[3]!);
      expect(line).not.toBe(good[3]);
      expect(JSON.parse(line)).toEqual(JSON.parse(good[3]!));
      // Rehashed over its own bytes (what the format's hash rule gives), and the rest of the chain relinked.
      const lines = [...good];
      lines[3] = rehash(line);
      for (let k = 4; k < lines.length; k++) lines[k] = rehash(lines[k]!.replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${JSON.parse(lines[k - 1]!).hash}"`));
      writeLines(path, lines);
      for (const tuning of [{}, { runs: false }]) {
        expect(await verifyWith(path, {}, tuning)).toMatchObject({ ok: false, entries: 2, problem: { reason: 'malformed', seq: 3, message: expect.stringContaining('not in canonical form') } });
      }
      // With its original hash left in place: the same answer.
      lines[3] = line;
      writeLines(path, lines);
      expect(await verifyAuditLog(path)).toMatchObject({ ok: false, problem: { reason: 'malformed', seq: 3 } });
    }
    writeLines(path, good);
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, lastSeq: 5 });
  });

  it('lines longer than a block, invalid UTF-8 in the middle of a block, and a version 1 entry with decision members are taken the long way', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    for (let i = 1; i <= 30; i++) await sink.append(entry(i, { key: i === 10 ? 'k'.repeat(3 * 1024 * 1024) : `users/u${i}` }));
    await sink.close();
    expect(await verifyWith(path, {}, { blockSize: 1024 })).toMatchObject({ ok: true, lastSeq: 30 });
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, lastSeq: 30 });
    const lines = readLines(path);
    const bad = Buffer.from(`${lines[20]!}\n`);
    bad[bad.indexOf('users/') + 1] = 0xff;
    writeFileSync(path, Buffer.concat([Buffer.from(lines.slice(0, 20).map((l) => `${l}\n`).join('')), bad, Buffer.from(lines.slice(21).map((l) => `${l}\n`).join(''))]));
    for (const tuning of [{}, { runs: false }, { blockSize: 4096 }]) {
      expect(await verifyWith(path, {}, tuning)).toMatchObject({ ok: false, entries: 19, problem: { reason: 'malformed', seq: 20 } });
    }

    // A version 1 file: an entry with a decision member (hashed and linked) in the middle of plain ones.
    const hasher = makeHasher(undefined);
    const header = headerBody('sha256', 0, GENESIS_HASH, 1);
    let prev = hasher.text(header);
    let text = lineOf(header, prev);
    for (let i = 1; i <= 20; i++) {
      const body = entryBody(i, entry(i, i === 12 ? { batchId: 'b' } : {}), prev, 2);
      prev = hasher.text(body);
      text += lineOf(body, prev);
    }
    writeFileSync(path, text);
    for (const tuning of [{}, { runs: false }, { blockSize: 700 }]) {
      expect(await verifyWith(path, {}, tuning)).toMatchObject({ ok: false, entries: 11, problem: { reason: 'malformed', seq: 12, message: expect.stringContaining('version 1 file') } });
    }
  });
});

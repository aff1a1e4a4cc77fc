import { describe, expect, it } from 'vitest';
import { makeHasher } from '../src/hasher.js';
import { checkLine, scanRecord } from '../src/read/scan-line.js';
import { GENESIS_HASH, entryBody, headerBody, lineOf, parseLine, sealBody } from '../src/record.js';

// verify's fast path must agree with parseLine, the reference (parse, write back, compare):
// it may leave a line to parseLine, but never accept one parseLine rejects.
const hasher = makeHasher(undefined);
let seed = 42;
const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
const PIECES = ['a', 'é', '"', '\\', '\n', '\t', '\u0001', '\u001f', '\u007f', '\u2028', '\ud800', '\udc00', '😀', '/', ' ', 'u', '0'];
const text = () => Array.from({ length: rand(6) }, () => PIECES[rand(PIECES.length)]).join('');

function randomLine(seq: number): string {
  if (rand(10) === 0) return lineOf(headerBody(hasher.alg, seq, GENESIS_HASH, rand(2) === 0 ? 1 : 2), 'a'.repeat(64)).slice(0, -1);
  if (rand(10) === 0) return lineOf(sealBody(seq, GENESIS_HASH), 'b'.repeat(64)).slice(0, -1);
  const e = {
    timestamp: [0, 5, -3, 1.5, 1e21, 1700000000000, 2 ** 53 + 2][rand(7)]!,
    operation: (['read', 'write', 'delete'] as const)[rand(3)]!,
    key: text(),
    agentId: rand(3) === 0 ? null : text(),
    sessionId: rand(3) === 0 ? null : text(),
    result: (['allowed', 'denied', 'rate_limited', 'redacted', 'error'] as const)[rand(5)]!,
    ...(rand(2) ? { decisionId: text() } : {}),
    ...(rand(2) ? { ruleId: rand(2) ? null : text() } : {}),
    ...(rand(2) ? { appliedRules: Array.from({ length: rand(3) }, text) } : {}),
    ...(rand(3) === 0 ? { shadowRuleId: text(), shadowAction: (['deny', 'modify', 'error'] as const)[rand(3)]! } : {}),
    ...(rand(3) === 0 ? { batchId: text() } : {}),
  };
  const body = entryBody(seq, e, GENESIS_HASH, 2);
  return lineOf(body, hasher.text(body)).slice(0, -1);
}

function mutate(line: Buffer): Buffer {
  const b = Buffer.from(line);
  const kinds = rand(4);
  const i = rand(b.length);
  if (kinds === 0) b[i] = rand(256);
  else if (kinds === 1) return Buffer.concat([b.subarray(0, i), Buffer.from([[0x20, 0x5c, 0x22, 0x2c, 0x30, 0x7b][rand(6)]!]), b.subarray(i)]);
  else if (kinds === 2) return Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
  else b[i] = [0x30, 0x31, 0x5c, 0x75, 0x22, 0x65, 0x2d, 0x2e][rand(8)]!;
  return b;
}

describe('checkLine (the verifier fast path) against parseLine', () => {
  it('accepts every line the writer produces, with the same chain fields and hash verdict', () => {
    for (let i = 0; i < 3000; i++) {
      const line = Buffer.from(randomLine(1 + rand(1000)));
      const ref = parseLine(line, hasher);
      const got = checkLine(line, hasher);
      expect(ref.ok).toBe(true);
      expect(got).toMatchObject({ ok: true, hashOk: ref.ok && ref.hashOk });
      if (got.ok && ref.ok) expect(got.record).toMatchObject({ type: ref.record.type, seq: ref.record.seq, prev: ref.record.prev, hash: ref.record.hash });
    }
  });

  it('never accepts a mutated line that parseLine rejects, and agrees on the hash', () => {
    let scanned = 0;
    for (let i = 0; i < 20000; i++) {
      const line = mutate(Buffer.from(randomLine(1 + rand(1000))));
      const ref = parseLine(line, hasher);
      if (scanRecord(line) !== undefined && line.length > 75 && line.toString('utf8') === line.toString('utf8')) scanned++;
      const got = checkLine(line, hasher);
      expect(got.ok).toBe(ref.ok);
      if (got.ok && ref.ok) expect([got.record.seq, got.hashOk]).toEqual([ref.record.seq, ref.hashOk]);
      if (!got.ok && !ref.ok) expect(got.problem).toBe(ref.problem);
    }
    expect(scanned).toBeGreaterThan(100);
  });
});

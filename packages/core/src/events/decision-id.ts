import { randomFillSync } from 'node:crypto';

/**
 * Decision ids are UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then a 12-bit counter
 * that keeps ids from one process strictly increasing within a millisecond, then 62 random
 * bits that keep ids from different processes apart. As lowercase hex they sort in time
 * order, and every language has a parser for them.
 *
 * Made only when something reads them (an audit entry, a violation, an `evaluate` answer), so
 * an operation nobody records pays nothing for its id.
 */
let lastMs = -1;
let counter = 0;
// Random bytes drawn 4 KiB at a time: one system call per 512 ids.
const POOL = Buffer.alloc(4096);
let poolAt = POOL.length;
const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, '0'));

function hex(n: number, digits: number): string {
  return n.toString(16).padStart(digits, '0');
}

/** A new decision id. `now` is wall-clock milliseconds (the engine's clock may be a test's fake). */
export function newDecisionId(now: number = Date.now()): string {
  let ms = Math.floor(now);
  if (ms <= lastMs) {
    // Same millisecond (or the clock stepped back): count on from the last id.
    ms = lastMs;
    counter++;
    if (counter > 0xfff) {
      ms = ++lastMs;
      counter = 0;
    }
  } else {
    lastMs = ms;
    counter = 0;
  }
  if (poolAt + 8 > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  const r = POOL;
  const i = poolAt;
  poolAt += 8;
  const timeHex = hex(ms, 12);
  return (
    timeHex.slice(0, 8) + '-' + timeHex.slice(8) + '-7' + hex(counter, 3) + '-' +
    HEX[0x80 | (r[i]! & 0x3f)] + HEX[r[i + 1]!] + '-' +
    HEX[r[i + 2]!] + HEX[r[i + 3]!] + HEX[r[i + 4]!] + HEX[r[i + 5]!] + HEX[r[i + 6]!] + HEX[r[i + 7]!]
  );
}

const UUID7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Whether `id` has the shape of a decision id. */
export function isDecisionId(id: unknown): id is string {
  return typeof id === 'string' && UUID7.test(id);
}

/** The Unix milliseconds a decision id was made at. */
export function decisionIdTime(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

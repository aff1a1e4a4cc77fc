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
/** The id is written here as ASCII and read out in one piece: a flat string, not a rope of concatenations. */
const OUT = Buffer.from('00000000-0000-7000-8000-000000000000', 'latin1');
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** A new decision id. `now` is milliseconds since the epoch, from the engine's clock. */
export function newDecisionId(now: number = Date.now()): string {
  if (now > lastMs) {
    lastMs = Math.floor(now);
    counter = 0;
    stamp(lastMs);
  } else if (++counter > 0xfff) {
    // Same millisecond (or the clock stepped back) 4096 times: borrow the next millisecond.
    counter = 0;
    stamp(++lastMs);
  }
  if (poolAt + 8 > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  OUT[15] = HEX[counter >> 8]!;
  OUT[16] = HEX[(counter >> 4) & 15]!;
  OUT[17] = HEX[counter & 15]!;
  // Variant bits 10, then 62 random bits.
  const v = 0x80 | (POOL[poolAt]! & 0x3f);
  OUT[19] = HEX[v >> 4]!;
  OUT[20] = HEX[v & 15]!;
  let at = 21;
  for (let i = 1; i < 8; i++) {
    if (at === 23) at = 24;
    const byte = POOL[poolAt + i]!;
    OUT[at++] = HEX[byte >> 4]!;
    OUT[at++] = HEX[byte & 15]!;
  }
  poolAt += 8;
  return OUT.toString('latin1', 0, 36);
}

/** Writes the 48-bit millisecond time into the first 13 characters (8, dash, 4). */
function stamp(ms: number): void {
  let hi = Math.floor(ms / 0x1000000);
  let lo = ms % 0x1000000;
  for (let i = 12; i >= 9; i--) {
    OUT[i] = HEX[lo & 15]!;
    lo >>>= 4;
  }
  for (let i = 7; i >= 6; i--) {
    OUT[i] = HEX[lo & 15]!;
    lo >>>= 4;
  }
  for (let i = 5; i >= 0; i--) {
    OUT[i] = HEX[hi & 15]!;
    hi = Math.floor(hi / 16);
  }
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

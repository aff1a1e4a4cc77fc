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
// Random bytes drawn 64 KiB at a time: one call per 8,192 ids. Each call costs about 3 µs
// whatever its size on this project's machine, so a 4 KiB pool paid 7 ns per id, this one 1.5.
const POOL = Buffer.alloc(65_536);
let poolAt = POOL.length;
/** The id is written here as ASCII and read out in one piece: a flat string, not a rope of concatenations. */
const OUT = Buffer.from('00000000-0000-7000-8000-000000000000', 'latin1');
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/**
 * The parts of a decision id, drawn when the decision is made and turned into text only when
 * something reads it: `ms` (48-bit Unix milliseconds), `counter` (12 bits), `hi` (the variant
 * byte and 3 random bytes), `lo` (4 random bytes); `hi` and `lo` as signed 32-bit integers.
 */
export interface DecisionIdParts {
  ms: number;
  counter: number;
  hi: number;
  lo: number;
}

/** Draws the next decision id's parts into `out`. `now` is milliseconds since the epoch, from the engine's clock. */
export function nextDecisionId(now: number, out: DecisionIdParts): void {
  if (now > lastMs) {
    lastMs = Math.floor(now);
    counter = 0;
  } else if (++counter > 0xfff) {
    // Same millisecond (or the clock stepped back) 4096 times: borrow the next millisecond.
    counter = 0;
    ++lastMs;
  }
  if (poolAt + 8 > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  out.ms = lastMs;
  out.counter = counter;
  // Variant bits 10, then 62 random bits. Kept as signed 32-bit integers (formatDecisionId reads
  // their bits): V8 holds those in the object itself, where an unsigned one past 2^31 (every
  // `hi`, with its variant bit) would be a heap number of its own per decision.
  out.hi = ((0x80 | (POOL[poolAt]! & 0x3f)) << 24) | (POOL[poolAt + 1]! << 16) | (POOL[poolAt + 2]! << 8) | POOL[poolAt + 3]!;
  out.lo = (POOL[poolAt + 4]! << 24) | (POOL[poolAt + 5]! << 16) | (POOL[poolAt + 6]! << 8) | POOL[poolAt + 7]!;
  poolAt += 8;
}

/** The text of the decision id with these parts (lowercase hex, dashes at 8, 13, 18 and 23). */
export function formatDecisionId(ms: number, counterPart: number, hi: number, lo: number): string {
  if (ms !== stampedMs) {
    stamp(ms);
    stampedMs = ms;
  }
  OUT[15] = HEX[counterPart >> 8]!;
  OUT[16] = HEX[(counterPart >> 4) & 15]!;
  OUT[17] = HEX[counterPart & 15]!;
  let at = 19;
  for (let shift = 28; shift >= 0; shift -= 4) {
    if (at === 23) at = 24;
    OUT[at++] = HEX[(hi >>> shift) & 15]!;
  }
  for (let shift = 28; shift >= 0; shift -= 4) OUT[at++] = HEX[(lo >>> shift) & 15]!;
  return OUT.toString('latin1', 0, 36);
}

let stampedMs = -1;
const PARTS: DecisionIdParts = { ms: 0, counter: 0, hi: 0, lo: 0 };

/** A new decision id. `now` is milliseconds since the epoch, from the engine's clock. */
export function newDecisionId(now: number = Date.now()): string {
  nextDecisionId(now, PARTS);
  return formatDecisionId(PARTS.ms, PARTS.counter, PARTS.hi, PARTS.lo);
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

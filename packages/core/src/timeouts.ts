import { describe } from './bytes.js';
import { isThenable } from './thenable.js';

/** The steps of an operation that can wait on something outside the engine. */
export type TimeoutStage = 'rate_limit' | 'hook' | 'storage' | 'audit';

/**
 * How long, in milliseconds, each kind of step may stay pending before the operation fails
 * closed with code `timeout`. `Infinity` waits forever. A step that answers synchronously is
 * never timed. Expiry is detected by a coarse timer: a step fails after at least its timeout
 * and at most 1.5 times it.
 */
export interface PolicyTimeouts {
  /** A rate-limit store's `consume`. @default 5000 */
  rateLimit?: number;
  /** Each hook that returns a promise. @default 10000 */
  hook?: number;
  /** Each storage call (`get`, `put`, `delete`). @default 30000 */
  storage?: number;
  /** Each audit sink `append`. @default 30000 */
  audit?: number;
}

export const DEFAULT_TIMEOUTS: Readonly<Required<PolicyTimeouts>> = Object.freeze({
  rateLimit: 5_000,
  hook: 10_000,
  storage: 30_000,
  audit: 30_000,
});

const STAGES: Record<keyof PolicyTimeouts, TimeoutStage> = { rateLimit: 'rate_limit', hook: 'hook', storage: 'storage', audit: 'audit' };
// setInterval's limit: longer delays fire at once.
const MAX_TIMEOUT = 2 ** 31 - 1;

/** The cause of a `timeout` violation: a step did not settle in time. */
export class StepTimeout extends Error {
  override readonly name = 'StepTimeout';
  constructor(
    readonly stage: TimeoutStage,
    readonly timeoutMs: number,
  ) {
    super(`${stage.replace('_', ' ')} step did not settle within ${timeoutMs} ms`);
  }
}

/** Validates `options.timeouts` and builds one {@link Deadline} per stage. */
export function parseTimeouts(input: unknown): Record<keyof PolicyTimeouts, Deadline> {
  if (input !== undefined && (input === null || typeof input !== 'object' || Array.isArray(input))) {
    throw new TypeError(`options.timeouts must be an object, got ${describe(input)}`);
  }
  const given = (input ?? {}) as Record<string, unknown>;
  for (const name of Object.keys(given)) {
    if (!Object.prototype.hasOwnProperty.call(STAGES, name)) {
      throw new RangeError(`options.timeouts.${name} is not a timeout; the timeouts are ${Object.keys(STAGES).join(', ')}`);
    }
  }
  const out = {} as Record<keyof PolicyTimeouts, Deadline>;
  for (const name of Object.keys(STAGES) as (keyof PolicyTimeouts)[]) {
    const ms = given[name] === undefined ? DEFAULT_TIMEOUTS[name] : given[name];
    if (typeof ms !== 'number' || !(ms === Infinity || (Number.isInteger(ms) && ms >= 1 && ms <= MAX_TIMEOUT))) {
      throw new RangeError(`options.timeouts.${name} must be an integer number of milliseconds from 1 to ${MAX_TIMEOUT}, or Infinity, got ${describe(ms)}`);
    }
    out[name] = new Deadline(STAGES[name], ms);
  }
  return out;
}

interface Waiter {
  gen: number;
  reject: (error: unknown) => void;
  prev: Waiter | undefined;
  next: Waiter | undefined;
}

/**
 * Bounds how long the engine waits on one kind of step. A per-call `setTimeout` would cost more
 * than many whole operations, so pending steps wait in a list (oldest first, O(1) to add and to
 * remove) and one interval timer, running only while something waits, ticks every half
 * timeout: a step pending for three ticks has waited at least the timeout and is rejected with
 * {@link StepTimeout}. Its late result, if one ever comes, is ignored.
 */
export class Deadline {
  readonly stage: TimeoutStage;
  readonly ms: number;
  #gen = 0;
  #head: Waiter | undefined = undefined;
  #tail: Waiter | undefined = undefined;
  #timer: ReturnType<typeof setInterval> | undefined = undefined;

  constructor(stage: TimeoutStage, ms: number) {
    this.stage = stage;
    this.ms = ms;
  }

  /** Steps waiting now. */
  get size(): number {
    let n = 0;
    for (let w = this.#head; w !== undefined; w = w.next) n++;
    return n;
  }

  /** Whether the timer runs (only while something waits). */
  get ticking(): boolean {
    return this.#timer !== undefined;
  }

  /** `pending`, or a rejection with {@link StepTimeout} if it has not settled in time. */
  race<T>(pending: PromiseLike<T>): PromiseLike<T>;
  race<T>(pending: T | PromiseLike<T>): T | PromiseLike<T>;
  race<T>(pending: T | PromiseLike<T>): T | PromiseLike<T> {
    if (this.ms === Infinity || !isThenable(pending)) return pending;
    return new Promise<T>((resolve, reject) => this.watch(pending, resolve, reject));
  }

  /**
   * Calls `onValue` with what `pending` resolves to, or `onError` with its rejection or, when it
   * has not settled in time, with {@link StepTimeout}: exactly one of the two, once. No promise
   * of its own, for a caller that settles its own ({@link race} makes one).
   */
  watch<T>(pending: PromiseLike<T>, onValue: (value: T) => void, onError: (error: unknown) => void): void {
    if (this.ms === Infinity) {
      pending.then(onValue, onError);
      return;
    }
    const waiter: Waiter = { gen: this.#gen, reject: onError, prev: this.#tail, next: undefined };
    if (this.#tail === undefined) this.#head = waiter;
    else this.#tail.next = waiter;
    this.#tail = waiter;
    this.#timer ??= this.#start();
    pending.then(
      (value) => {
        if (this.#remove(waiter)) onValue(value);
      },
      (error: unknown) => {
        if (this.#remove(waiter)) onError(error);
      },
    );
  }

  #start(): ReturnType<typeof setInterval> {
    // Unreferenced: a pending step alone does not keep the process alive.
    return setInterval(() => this.#tick(), Math.max(1, Math.floor(this.ms / 2))).unref();
  }

  #tick(): void {
    this.#gen++;
    while (this.#head !== undefined && this.#head.gen + 3 <= this.#gen) {
      const expired = this.#head;
      this.#remove(expired);
      expired.reject(new StepTimeout(this.stage, this.ms));
    }
    if (this.#head === undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Unlinks `waiter`; false when it was no longer waiting (it expired, and this is its late answer). */
  #remove(waiter: Waiter): boolean {
    // A waiter already removed has no links and is not the head.
    if (waiter.prev !== undefined) waiter.prev.next = waiter.next;
    else if (this.#head === waiter) this.#head = waiter.next;
    else return false;
    if (waiter.next !== undefined) waiter.next.prev = waiter.prev;
    else this.#tail = waiter.prev;
    waiter.prev = waiter.next = undefined;
    return true;
  }
}

import { PolicyAction, PolicyTrigger } from '../actions.js';
import { describe, keyTexts } from '../bytes.js';
import type { AuditResult, KeyRange, KeyValueEntry, KeyValueIterator } from '../contracts.js';
import { SET_VALUE, type CallerContext } from '../context.js';
import { PolicyViolation, ViolationCode, violationMessage } from '../errors.js';
import { DECISION, FAILING, type DecisionContext } from '../events/decision-record.js';
import { newDecisionId } from '../events/decision-id.js';
import { STEP_AUDIT, STEP_HOOKS, type Observation } from '../events/observation.js';
import type { Decision } from '../hooks/handler.js';
import type { RuleSet } from '../rules/rule-set.js';
import { BaseKeyValueIterator, IteratorError } from '../storage/iterator.js';
import type { RangeOptions } from '../storage/range.js';
import { StepTimeout } from '../timeouts.js';
import type { Pipeline } from './pipeline.js';
import { takeRun } from './tokens.js';

/** The range of `policy.scan`, plus a signal that ends the scan when aborted. */
export interface ScanOptions extends RangeOptions {
  /** Aborting ends the scan: the next call rejects with the signal's reason and the store's iterator is closed. */
  signal?: AbortSignal;
}

/**
 * Entries read from the store per call: the first call reads a few (a scan that stops early
 * reads little) — or, when the first pull is a `nextv(n)`, as many as it asks for (up to the
 * most and the scan's limit) — each next one twice as many up to the most, which bounds what a
 * scan holds and amortizes the store's calls over long scans.
 */
const FIRST_CHUNK = 64;
const MAX_CHUNK = 1024;
const SKIP = Symbol('skip');

/**
 * What `policy.scan` returns: a {@link KeyValueIterator} over the entries the read policy lets
 * through. Each key the store yields is one read decision — a rate-limit token, `before_read`,
 * `after_read`, one audit entry and one decision event — exactly as `policy.get` of that key
 * would be, except that a refusal leaves the key out instead of throwing. Lazy: it reads the
 * store `CHUNK` entries at a time, and only as the caller pulls.
 */
export class PolicyScan extends BaseKeyValueIterator {
  readonly #p: Pipeline;
  readonly #range: KeyRange;
  readonly #caller: CallerContext;
  readonly #signal: AbortSignal | undefined;
  readonly #set: RuleSet;
  /** The id on every audit entry and event of this scan. */
  readonly batchId: string;
  #store: KeyValueIterator | undefined;
  #buffer: KeyValueEntry[] = [];
  /** The texts of the keys in #buffer (decoded together, ../bytes.ts keyTexts). */
  #texts: string[] = [];
  #at = 0;
  #chunk = FIRST_CHUNK;
  /** The store's next chunk, asked for while the current one is decided. */
  #ahead: Promise<KeyValueEntry[]> | undefined = undefined;
  #ended = false;
  /** An error met after `nextv` had decided some entries: those are returned, the error is thrown next. */
  #pending: { error: unknown } | undefined = undefined;
  /** Keys examined, returned and withheld so far. */
  #returned = 0;
  #withheld = 0;
  /** A key is being decided (by next() or by for await): a second one must wait. */
  #busy = false;
  /** Read tokens taken ahead, by a run, for keys not yet examined (./tokens.ts). */
  #paid = 0;
  /** Whether to take tokens per run: false once a run was refused (then one per key). */
  #runs = true;
  /**
   * While a call decides keys: the audit appends it has not awaited yet, each with the place of
   * its key among the keys the call examined (#settleAudits).
   */
  #audits: { done: Promise<void>; seq: number }[] | undefined = undefined;
  /** Set by #read when the key's token step did not answer at once (a remote limiter): the next key must wait for it. */
  #tokenWait = false;
  /** The context of the key #read last started. */
  #started: DecisionContext | undefined = undefined;

  constructor(p: Pipeline, range: KeyRange, caller: CallerContext, signal: AbortSignal | undefined) {
    // The limit counts entries returned, on both paths (next() and for await): enforced here.
    super(Infinity);
    this.#p = p;
    this.#range = range;
    this.#caller = caller;
    this.#signal = signal;
    this.#set = p.rules();
    this.batchId = newDecisionId(p.clock());
  }

  /** Entries returned to the caller so far. */
  get returned(): number {
    return this.#returned;
  }

  /** Keys left out so far (denied by `before_read`, withheld by `after_read`). */
  get withheld(): number {
    return this.#withheld;
  }

  protected async _next(): Promise<KeyValueEntry | undefined> {
    const out = await this.#take(1);
    return out[0];
  }

  /** Decides keys until `size` entries are let through (or the range ends), in one call. */
  protected override async _nextv(size: number): Promise<KeyValueEntry[]> {
    return this.#take(size);
  }

  async #take(size: number): Promise<KeyValueEntry[]> {
    if (this.#busy) throw new IteratorError('iterator_busy', 'next() while this scan is deciding a key for for await; await it first');
    this.#busy = true;
    const out: KeyValueEntry[] = [];
    try {
      if (this.#pending !== undefined) throw this.#pending.error;
      // A first nextv(n) says how much the caller wants: the first chunk need not start small.
      if (this.#store === undefined && !this.#ended) {
        this.#chunk = Math.max(FIRST_CHUNK, Math.min(MAX_CHUNK, size, this.#range.limit));
      }
      this.#audits = [];
      const call = new ScanCall(out);
      try {
        await this.#decide(call, size);
      } catch (error) {
        // Something outside any key's decision (the store, the signal): after every key started.
        call.fail(error, Infinity);
      }
      // Every key started is settled before the call ends: none is left deciding into the next call.
      while (call.window.length > 0) await this.#settleOldest(call);
      const failure = await this.#settleAudits(call);
      if (failure !== undefined) {
        // The entries from the failed key on are not the caller's.
        const kept = call.before(failure.seq);
        this.#returned -= out.length - kept;
        out.length = kept;
        throw failure.error;
      }
      return out;
    } catch (error) {
      // Fail closed and let go of the store's cursor: nothing more comes out of this scan.
      // Entries already decided in this call are the caller's (and audited as such): they are
      // returned, and the error is thrown by the next call.
      if (out.length > 0 && this.#pending === undefined) {
        this.#pending = { error };
        await this._close();
        return out;
      }
      await this.close();
      throw error;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Decides keys until `size` entries are let through (or the range or the scan's limit ends).
   * A key whose decision is still pending (an asynchronous hook, or an asynchronous audit sink
   * on the failure path) waits in the call's window while the next keys are decided, up to
   * SCAN_PENDING at once, settled oldest first, so the answer keeps the keys' order. A key starts
   * only while the entries returned and the keys waiting stay below `size` and the limit, so every
   * key examined can be returned by this call (rule M3: none is charged and audited only to be
   * dropped by the next). Nothing starts after a key known to have failed, or while a key's token
   * step is pending (a remote limiter's run): runs never overlap and the key where tokens run out
   * is the last one examined.
   */
  async #decide(call: ScanCall, size: number): Promise<void> {
    const p = this.#p;
    // One clock reading for the keys decided in one synchronous stretch of this call (until
    // it next waits for the store, a hook, a limiter or a sink): they are decided at that time.
    let now: number | undefined;
    while (call.failure === undefined) {
      const room = Math.min(size - call.out.length, this.#range.limit - this.#returned) - call.window.length;
      if (room <= 0) {
        if (call.window.length === 0) return;
        await this.#settleOldest(call);
        now = undefined;
        continue;
      }
      this.#checkSignal();
      let entry: KeyValueEntry | undefined;
      if (this.#at < this.#buffer.length) entry = this.#buffer[this.#at++]!;
      else {
        entry = await this.#pull();
        now = undefined;
      }
      if (entry === undefined) return;
      now ??= p.clock();
      // The keys this call examines from here at least: one per entry it may still return,
      // within the chunk in hand. Their tokens are taken together (#read).
      const run = Math.min(this.#buffer.length - this.#at + 1, room);
      const text = this.#texts[this.#at - 1]!;
      const seq = call.started++;
      if (p.observing()) {
        // Each observed key publishes its event as it ends: one at a time, in order.
        while (call.window.length > 0) await this.#settleOldest(call);
        if (call.failure !== undefined) return;
        const at = now;
        try {
          this.#settled(call, entry, seq, await p.observed('read', async (o) => this.#read(entry, text, at, o, run, seq)));
        } catch (error) {
          call.fail(error, seq);
        }
        now = undefined;
        continue;
      }
      let result: Decided | Promise<Decided>;
      try {
        result = this.#read(entry, text, now, undefined, run, seq);
      } catch (error) {
        call.fail(error, seq);
        return;
      }
      if (!(result instanceof Promise) && call.window.length === 0) {
        this.#settled(call, entry, seq, result);
        continue;
      }
      // Awaited in order (#settleOldest); handled now so that a failure before then is not unhandled.
      if (result instanceof Promise) result.then(undefined, ignore);
      call.window.push({ entry, seq, result });
      if (this.#tokenWait || this.#started?.[FAILING]() === true) {
        // Its tokens are not known yet, or it already failed: nothing more starts before it settles.
        while (call.window.length > 0) await this.#settleOldest(call);
        now = undefined;
      } else if (call.window.length >= SCAN_PENDING) {
        await this.#settleOldest(call);
        now = undefined;
      }
    }
  }

  /** Settles the oldest key waiting in the call's window. */
  async #settleOldest(call: ScanCall): Promise<void> {
    const { entry, seq, result } = call.window.shift()!;
    let value: Decided;
    try {
      value = result instanceof Promise ? await result : result;
    } catch (error) {
      call.fail(error, seq);
      return;
    }
    this.#settled(call, entry, seq, value);
  }

  /** Key `seq` of the call was decided: its entry joins the answer, unless a key before it failed. */
  #settled(call: ScanCall, entry: KeyValueEntry, seq: number, value: Decided): void {
    if (call.failure !== undefined && call.failure.seq < seq) return;
    if (value === SKIP) {
      this.#withheld++;
      return;
    }
    this.#returned++;
    call.out.push({ key: entry.key, value: this.#range.values ? value : undefined });
    call.outSeq.push(seq);
  }

  /**
   * `for await`: an entry already read from the store is decided right here, with no promise
   * per key when every step answers synchronously; anything else (a new chunk, an observed
   * key, an abort) goes through next(). Leaving the loop closes the scan.
   */
  override async *[Symbol.asyncIterator](): AsyncIterator<KeyValueEntry> {
    try {
      for (;;) {
        let entry: KeyValueEntry | undefined;
        if (!this.#busy && !this.closed && this.#pending === undefined && this.#at < this.#buffer.length && this.#returned < this.#range.limit && this.#signal?.aborted !== true && !this.#p.observing()) {
          const stored = this.#buffer[this.#at]!;
          const text = this.#texts[this.#at++]!;
          this.#busy = true;
          let value: Decided | Promise<Decided>;
          try {
            value = this.#read(stored, text, this.#p.clock(), undefined, 1, 0);
            if (value instanceof Promise) value = await value;
          } finally {
            this.#busy = false;
          }
          if (value === SKIP) {
            this.#withheld++;
            continue;
          }
          this.#returned++;
          entry = { key: stored.key, value: this.#range.values ? value : undefined };
        } else {
          entry = await this.next();
          if (entry === undefined) return;
        }
        yield entry;
      }
    } finally {
      await this.close();
    }
  }

  protected async _close(): Promise<void> {
    this.#buffer = [];
    this.#texts = [];
    this.#at = 0;
    const store = this.#store;
    this.#store = undefined;
    // The chunk read ahead, if any, settles before the store's iterator closes (a store may
    // refuse close() while a nextv is pending); what it read is dropped.
    const ahead = this.#ahead;
    this.#ahead = undefined;
    if (ahead !== undefined) await ahead.then(ignore, ignore);
    if (store !== undefined) await store.close();
  }

  /**
   * Waits for the audit appends of the keys this call decided (handed to the sink one after
   * another, awaited together: a sink that commits a tick's entries at once, as the audit file
   * does with one fsync, commits them once). When one failed, the entries from its key on are
   * not returned — those keys were decided, and may be audited, but are not the caller's.
   * Answers the call's first failure in key order, a decision's or an audit's.
   */
  async #settleAudits(call: ScanCall): Promise<{ error: unknown; seq: number } | undefined> {
    const audits = this.#audits;
    this.#audits = undefined;
    if (audits !== undefined) {
      for (const { done, seq } of audits) {
        try {
          await done;
        } catch (error) {
          call.fail(error, seq);
        }
      }
    }
    return call.failure;
  }

  #checkSignal(): void {
    if (this.#signal?.aborted === true) throw this.#signal.reason;
  }

  /**
   * The next chunk of the store's entries (its first call opens the store's iterator). Each
   * chunk but the last asks the store for the next one at once, so that the store reads it
   * while this one is decided: a scan holds at most two chunks.
   */
  async #pull(): Promise<KeyValueEntry | undefined> {
    if (this.#ended) return undefined;
    const p = this.#p;
    // The limit counts entries returned, not examined: the store's iterator has none.
    this.#store ??= p.db.iterator!({ ...this.#range, limit: Infinity, values: true });
    let chunk: KeyValueEntry[];
    try {
      const pending = this.#ahead ?? this.#fetch(this.#store);
      this.#ahead = undefined;
      chunk = await this.#abortable(pending);
    } catch (error) {
      if (error instanceof StepTimeout) {
        throw new PolicyViolation(ViolationCode.TIMEOUT, violationMessage(ViolationCode.TIMEOUT, 'read'), { operation: 'read', key: '', cause: error, stage: error.stage, batchId: this.batchId });
      }
      // A store's error escapes as itself (rule E2).
      throw error;
    }
    if (chunk.length === 0) {
      this.#ended = true;
      return undefined;
    }
    this.#buffer = chunk;
    this.#texts = keyTexts(chunk.map(keyOf));
    this.#at = 1;
    // Not when the entries in hand may already be all the caller is allowed to get.
    if (this.#range.limit - this.#returned > chunk.length && this.#store !== undefined) this.#ahead = this.#fetch(this.#store);
    return chunk[0];
  }

  /** Asks the store for the next chunk, each one twice the size of the one before, up to the most. */
  #fetch(store: KeyValueIterator): Promise<KeyValueEntry[]> {
    const size = this.#chunk;
    this.#chunk = Math.min(MAX_CHUNK, size * 2);
    const pending = Promise.resolve(this.#p.deadlines.storage.race(store.nextv(size)));
    // A chunk read ahead may never be awaited (the scan closes first): its failure is not unhandled.
    pending.catch(ignore);
    return pending;
  }

  /** `pending`, or the signal's reason as soon as it aborts. */
  #abortable<T>(pending: PromiseLike<T>): PromiseLike<T> {
    const signal = this.#signal;
    if (signal === undefined) return pending;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      pending.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  /**
   * One key's read decision: the value to return, or SKIP when the policy withholds the entry.
   * A rate limit with no token, a failing hook or an audit sink that cannot record throws.
   * Synchronous when every step answers synchronously (like `get`'s steps), so a scan over an
   * in-memory limiter, plain hooks and the in-memory log costs no promise per key.
   *
   * `now`: the clock reading the key is decided at (its `ctx.timestamp`, audit entry and tokens).
   * `run`: how many keys, this one first, the caller will examine at least. Their read tokens
   * are taken in one consume (one round trip to a remote limiter per run, not per key); when
   * that is refused, one per key from then on (rule M3).
   */
  #read(entry: KeyValueEntry, text: string, now: number, o: Observation | undefined, run: number, seq: number): Decided | Promise<Decided> {
    const p = this.#p;
    const key = entry.key;
    const ctx = p.context('read', key, text, null, this.#caller, now, o);
    if (o !== undefined || p.audit.enabled) ctx[DECISION]().batchId = this.batchId;
    this.#started = ctx;
    this.#tokenWait = false;
    if (this.#paid > 0) {
      this.#paid--;
      return this.#before(entry, ctx, o, seq);
    }
    if (run > 1 && this.#runs) {
      const paid = takeRun(p, ctx, run);
      if (typeof paid === 'number') return this.#ranRun(entry, ctx, o, paid, seq);
      this.#tokenWait = true;
      return paid.then((n) => this.#ranRun(entry, ctx, o, n, seq));
    }
    return this.#admitOne(entry, ctx, o, seq);
  }

  /** After a run's consume: `paid` keys' tokens taken (this key's among them), or none (one per key from now on). */
  #ranRun(entry: KeyValueEntry, ctx: DecisionContext, o: Observation | undefined, paid: number, seq: number): Decided | Promise<Decided> {
    if (paid === 0) {
      this.#runs = false;
      return this.#admitOne(entry, ctx, o, seq);
    }
    this.#paid = paid - 1;
    return this.#before(entry, ctx, o, seq);
  }

  #admitOne(entry: KeyValueEntry, ctx: DecisionContext, o: Observation | undefined, seq: number): Decided | Promise<Decided> {
    const admitted = this.#p.admit(ctx);
    if (admitted === undefined) return this.#before(entry, ctx, o, seq);
    this.#tokenWait = true;
    return admitted.then(() => this.#before(entry, ctx, o, seq));
  }

  #before(entry: KeyValueEntry, ctx: DecisionContext, o: Observation | undefined, seq: number): Decided | Promise<Decided> {
    o?.enter(STEP_HOOKS);
    const decision = this.#p.evaluate(PolicyTrigger.BEFORE_READ, ctx, this.#set);
    return decision instanceof Promise ? decision.then((d) => this.#after(entry, ctx, o, d, seq)) : this.#after(entry, ctx, o, decision, seq);
  }

  #after(entry: KeyValueEntry, ctx: DecisionContext, o: Observation | undefined, decision: Decision, seq: number): Decided | Promise<Decided> {
    if (decision.action === PolicyAction.DENY) return this.#audited(ctx, o, 'denied', SKIP, seq);
    const stored = entry.value;
    if (!Buffer.isBuffer(stored)) throw new TypeError(`the store's iterator yielded ${describe(stored)} as the value of a key; expected a Buffer`);
    ctx[SET_VALUE](stored);
    const after = this.#p.evaluate(PolicyTrigger.AFTER_READ, ctx, this.#set);
    return after instanceof Promise ? after.then((a) => this.#afterRead(ctx, o, stored, a, seq)) : this.#afterRead(ctx, o, stored, after, seq);
  }

  #afterRead(ctx: DecisionContext, o: Observation | undefined, stored: Buffer, after: Decision, seq: number): Decided | Promise<Decided> {
    // DENY withholds the entry, key included (get answers null; a scan has no null to give);
    // MODIFY returns the replacement. Either way the caller does not get what is stored.
    if (after.action === PolicyAction.DENY) return this.#audited(ctx, o, 'redacted', SKIP, seq);
    if (after.action === PolicyAction.MODIFY) return this.#audited(ctx, o, 'redacted', after.value !== undefined ? after.value : stored, seq);
    return this.#audited(ctx, o, 'allowed', stored, seq);
  }

  #audited(ctx: DecisionContext, o: Observation | undefined, result: AuditResult, value: Decided, seq: number): Decided | Promise<Decided> {
    if (o !== undefined) {
      o.result = result;
      o.enter(STEP_AUDIT);
    }
    const audited = this.#p.audit.record(ctx, result);
    if (audited === undefined) return value;
    const audits = this.#audits;
    if (audits !== undefined && o === undefined) {
      // Awaited with the others of this call (#settleAudits); handled now so that it is never unhandled.
      audited.then(undefined, ignore);
      audits.push({ done: audited, seq });
      return value;
    }
    return audited.then(() => value);
  }
}

type Decided = Buffer | typeof SKIP;

/** Keys a `nextv` call may have waiting on asynchronous decisions at once (#decide). */
export const SCAN_PENDING = 64;

/** One `nextv` call's keys: its answer so far, the keys still being decided, its first failure. */
class ScanCall {
  readonly out: KeyValueEntry[];
  /** For each entry of `out`, its key's place among the keys the call examined. */
  readonly outSeq: number[] = [];
  /** Keys started and not yet settled, oldest first. */
  readonly window: { entry: KeyValueEntry; seq: number; result: Decided | Promise<Decided> }[] = [];
  /** Keys examined so far. */
  started = 0;
  /** The failure of the earliest key that failed (its decision's or its audit's). */
  failure: { error: unknown; seq: number } | undefined = undefined;

  constructor(out: KeyValueEntry[]) {
    this.out = out;
  }

  /** Key `seq` failed with `error` (Infinity: something after every key started). The earliest wins. */
  fail(error: unknown, seq: number): void {
    if (this.failure === undefined || seq < this.failure.seq) this.failure = { error, seq };
  }

  /** How many entries of the answer come from keys before key `seq`. */
  before(seq: number): number {
    let n = this.outSeq.length;
    while (n > 0 && this.outSeq[n - 1]! >= seq) n--;
    return n;
  }
}

function keyOf(entry: KeyValueEntry): Buffer {
  return entry.key;
}

function ignore(): void {}

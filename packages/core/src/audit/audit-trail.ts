import type { AuditEntry, AuditQuery, AuditResult, AuditSink } from '../contracts.js';
import type { PolicyContext } from '../context.js';
import { DECISION, DecisionContext, decisionRecord } from '../events/decision-record.js';
import { PolicyViolation, ViolationCode, violationMessage } from '../errors.js';
import { isThenable } from '../thenable.js';
import { MemoryAuditSink, RECORD_DECISION } from '../memory/memory-audit-sink.js';
import { StepTimeout, type Deadline } from '../timeouts.js';

export interface AuditTrailOptions {
  sink: AuditSink | undefined;
  failOpen: boolean;
  onError: ((error: unknown, entry: AuditEntry) => void) | undefined;
  /** Bounds each `append` that returns a promise. */
  deadline: Deadline;
}

/**
 * The engine's audit step: one entry per operation into the sink (rules A1–A3), failing the
 * operation closed when the sink cannot record it unless the engine was told to fail open.
 */
export class AuditTrail {
  #sink: AuditSink | undefined;
  readonly #custom: boolean;
  #on: boolean;
  readonly #failOpen: boolean;
  readonly #onError: AuditTrailOptions['onError'];
  readonly #deadline: Deadline;

  constructor({ sink, failOpen, onError, deadline }: AuditTrailOptions) {
    this.#deadline = deadline;
    this.#sink = sink;
    this.#custom = sink !== undefined;
    this.#on = sink !== undefined;
    this.#failOpen = failOpen;
    this.#onError = onError;
  }

  get enabled(): boolean {
    return this.#on;
  }

  /** Turns recording on; `maxEntries` sizes the in-memory log (a custom sink has no size here). */
  enable(maxEntries: number | undefined): void {
    if (this.#custom) {
      if (maxEntries !== undefined) {
        throw new TypeError('maxEntries sizes the in-memory audit log; this engine writes to the auditSink it was given');
      }
    } else if (this.#sink instanceof MemoryAuditSink) {
      if (maxEntries !== undefined) this.#sink.resize(maxEntries);
    } else {
      this.#sink = new MemoryAuditSink({ maxEntries });
    }
    this.#on = true;
  }

  /** Stops recording; entries already recorded stay readable. */
  disable(): void {
    this.#on = false;
  }

  query(query: AuditQuery): AuditEntry[] | Promise<AuditEntry[]> {
    return this.#sink === undefined ? [] : this.#sink.query(query);
  }

  /**
   * Records the outcome of a successful operation; a failed append fails the operation closed
   * (a synchronous sink's throw propagates as it is). Returns undefined when the sink appended
   * synchronously.
   */
  record(ctx: PolicyContext, result: AuditResult): Promise<void> | undefined {
    if (!this.#on) return undefined;
    const sink = this.#sink;
    // The in-memory log keeps the decision column by column: no entry object to build.
    if (sink instanceof MemoryAuditSink && ctx instanceof DecisionContext) {
      sink[RECORD_DECISION](ctx, ctx[DECISION](), result);
      return undefined;
    }
    const entry = toEntry(ctx, result);
    let done: void | Promise<void>;
    try {
      done = this.#sink!.append(entry);
    } catch (cause) {
      this.#failed(ctx, entry, cause);
      return undefined;
    }
    return isThenable(done) ? this.#recordLater(ctx, entry, this.#deadline.race(done)) : undefined;
  }

  /**
   * Records the outcome of an operation that is failing anyway: its own error wins. Bounded
   * by the audit timeout like any append, so a hung sink cannot hold a failure forever.
   */
  async recordQuietly(ctx: PolicyContext, result: AuditResult): Promise<void> {
    try {
      await this.record(ctx, result);
    } catch {
      // The operation already fails with a more specific error.
    }
  }

  /**
   * Records the outcome of several operations (a batch): every entry is handed to the sink
   * before any is awaited, so that a sink that commits what it is given together (one fsync
   * for the appends of a tick) commits them together; then waits for all of them. Fails as
   * `record` does, with the failure of the first entry in order that failed.
   */
  async recordAll(ctxs: readonly PolicyContext[], result: AuditResult): Promise<void> {
    const pending: Promise<void>[] = [];
    let thrown: { error: unknown } | undefined;
    for (let i = 0; i < ctxs.length; i++) {
      try {
        const done = this.record(ctxs[i]!, result);
        if (done !== undefined) {
          // Awaited below, in order; handled now so that a failure before then is not unhandled.
          done.then(undefined, ignore);
          pending.push(done);
        }
      } catch (error) {
        // A synchronous sink failed (closed): no further entry is handed to it.
        thrown = { error };
        break;
      }
    }
    // An earlier entry's failure comes first.
    for (const done of pending) await done;
    if (thrown !== undefined) throw thrown.error;
  }

  /** {@link recordAll} for operations that are failing anyway: their own error wins, and every entry is tried. */
  async recordAllQuietly(ctxs: readonly PolicyContext[], result: AuditResult): Promise<void> {
    const pending: Promise<void>[] = [];
    for (let i = 0; i < ctxs.length; i++) {
      try {
        const done = this.record(ctxs[i]!, result);
        if (done !== undefined) pending.push(done.then(undefined, ignore));
      } catch {
        // The operation already fails with a more specific error.
      }
    }
    await Promise.all(pending);
  }

  async #recordLater(ctx: PolicyContext, entry: AuditEntry, done: PromiseLike<void>): Promise<void> {
    try {
      await done;
    } catch (cause) {
      this.#failed(ctx, entry, cause);
    }
  }

  /** Fail open (report and go on) or closed (throw `audit_unavailable`), as configured. */
  #failed(ctx: PolicyContext, entry: AuditEntry, cause: unknown): void {
    if (this.#failOpen) {
      this.#onError?.(cause, entry);
      return;
    }
    const code = cause instanceof StepTimeout ? ViolationCode.TIMEOUT : ViolationCode.AUDIT_UNAVAILABLE;
    throw new PolicyViolation(code, violationMessage(code, ctx.operation), {
      operation: ctx.operation,
      key: ctx.keyText,
      cause,
      stage: code === ViolationCode.TIMEOUT ? 'audit' : undefined,
    });
  }
}

/** The audit entry of `ctx`'s decision: the same record a decision event carries. */
function toEntry(ctx: PolicyContext, result: AuditResult): AuditEntry {
  return decisionRecord(ctx, result);
}

function ignore(): void {}

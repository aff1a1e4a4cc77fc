/** Answers a whole batch: an error for every caller, or one result per item (or none when every result is undefined). */
export type BatchDone<R> = (error: unknown, results?: readonly R[]) => void;

/**
 * Collects the items added in one tick and hands them to `run` together, answering each
 * caller with its own result (or every caller with the batch's error).
 *
 * The flush waits for `process.nextTick`, which runs once the pending promise jobs have
 * drained: operations that reach the store a few microtasks apart (each behind its own
 * policy hooks) still share the batch, and a lone operation is not delayed by a timer.
 * `run` answers through a callback, so a batch costs no promise of its own.
 */
export class TickBatch<I, R> {
  readonly #run: (items: I[], done: BatchDone<R>) => void;
  #items: I[] = [];
  #resolve: ((result: R) => void)[] = [];
  #reject: ((error: unknown) => void)[] = [];
  readonly #flushSoon = (): void => {
    this.#flush(undefined);
  };

  readonly #leading: boolean | 'idle';
  /** Runs handed to `run` and not yet answered (counted for `leading: 'idle'` only). */
  #out = 0;
  /** Whether the last run was of one item (for `leading: 'idle'`). */
  #lastAlone = true;

  /**
   * `leading: true`: the first item of a tick runs at once, alone, and only those that follow
   * it in the same tick wait for the flush: a lone operation is not delayed by a tick, and items
   * still run in the order they were added (nothing is pending when one runs at once).
   * `leading: 'idle'`: an item runs at once, alone, when no run is out, none is pending and the
   * last run was of one item too (lone reads one after another); otherwise it waits for the flush
   * with the rest of its tick, so that items that keep coming many at a time still share runs.
   * For items whose order does not matter: one added while a run is out may still run first.
   */
  constructor(run: (items: I[], done: BatchDone<R>) => void, { leading = false }: { leading?: boolean | 'idle' } = {}) {
    this.#run = run;
    this.#leading = leading;
  }

  /** Runs the items waiting for this tick's flush now, if there are any (their callers are answered as `run` answers). */
  runPending(): void {
    if (this.#items.length !== 0) this.#flush(undefined);
  }

  add(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (this.#items.length === 0) {
        if (this.#leading === 'idle' ? this.#out === 0 && this.#lastAlone : this.#leading && !this.#ranThisTick) {
          if (this.#leading === true) {
            this.#ranThisTick = true;
            process.nextTick(this.#newTick);
          }
          this.#runAlone(item, resolve, reject);
          return;
        }
        process.nextTick(this.#flushSoon);
      }
      this.#items.push(item);
      this.#resolve.push(resolve);
      this.#reject.push(reject);
    });
  }

  /** Whether an item ran at once in this tick: the next ones of the tick are batched. */
  #ranThisTick = false;
  readonly #newTick = (): void => {
    this.#ranThisTick = false;
  };

  /** A run of `size` items starts: counted as out for `leading: 'idle'` (true), else not (false). */
  #started(size: number): boolean {
    if (this.#leading !== 'idle') return false;
    this.#out++;
    this.#lastAlone = size === 1;
    return true;
  }

  #runAlone(item: I, resolve: (result: R) => void, reject: (error: unknown) => void): void {
    let settled = false;
    const counted = this.#started(1);
    const done: BatchDone<R> = (error, results) => {
      if (settled) return;
      settled = true;
      if (counted) this.#out--;
      if (error !== null && error !== undefined) reject(error);
      else resolve(results === undefined ? (undefined as R) : results[0]!);
    };
    try {
      this.#run([item], done);
    } catch (error) {
      done(error);
    }
  }

  /** Runs what is pending now; resolves when its callers are answered. Never rejects. */
  flush(): Promise<void> {
    if (this.#items.length === 0) return Promise.resolve();
    return new Promise<void>((answered) => this.#flush(answered));
  }

  #flush(answered: (() => void) | undefined): void {
    if (this.#items.length === 0) {
      answered?.();
      return;
    }
    const items = this.#items;
    const resolve = this.#resolve;
    const reject = this.#reject;
    this.#items = [];
    this.#resolve = [];
    this.#reject = [];
    let settled = false;
    const counted = this.#started(items.length);
    const done: BatchDone<R> = (error, results) => {
      if (settled) return;
      settled = true;
      if (counted) this.#out--;
      if (error !== null && error !== undefined) for (let i = 0; i < reject.length; i++) reject[i]!(error);
      else for (let i = 0; i < resolve.length; i++) resolve[i]!(results === undefined ? (undefined as R) : results[i]!);
      answered?.();
    };
    try {
      this.#run(items, done);
    } catch (error) {
      done(error);
    }
  }
}

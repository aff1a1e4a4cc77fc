/**
 * Collects the items added in one tick and hands them to `run` together, answering each
 * caller with its own result (or every caller with the batch's error).
 *
 * The flush waits for `process.nextTick`, which runs once the pending promise jobs have
 * drained: operations that reach the store a few microtasks apart (each behind its own
 * policy hooks) still share the batch, and a lone operation is not delayed by a timer.
 */
export class TickBatch<I, R> {
  readonly #run: (items: I[]) => Promise<readonly R[] | void>;
  #items: I[] = [];
  #resolve: ((result: R) => void)[] = [];
  #reject: ((error: unknown) => void)[] = [];

  /** `run` answers one result per item, in order, or nothing when every result is undefined. */
  constructor(run: (items: I[]) => Promise<readonly R[] | void>) {
    this.#run = run;
  }

  add(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (this.#items.length === 0) process.nextTick(() => this.flush());
      this.#items.push(item);
      this.#resolve.push(resolve);
      this.#reject.push(reject);
    });
  }

  /** Runs what is pending now; resolves when its callers are answered. Never rejects. */
  flush(): Promise<void> {
    if (this.#items.length === 0) return Promise.resolve();
    const items = this.#items;
    const resolve = this.#resolve;
    const reject = this.#reject;
    this.#items = [];
    this.#resolve = [];
    this.#reject = [];
    let pending: Promise<readonly R[] | void>;
    try {
      pending = this.#run(items);
    } catch (error) {
      pending = Promise.reject(error);
    }
    return pending.then(
      (results) => resolve.forEach((answer, i) => answer(results ? results[i]! : (undefined as R))),
      (error: unknown) => reject.forEach((answer) => answer(error)),
    );
  }
}

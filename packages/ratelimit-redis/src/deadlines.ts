/** One call waiting for Redis. */
export interface Pending {
  /** Marks the call answered; false when its deadline already passed (the answer is then dropped). */
  settle(): boolean;
  /** Neither answered nor past its deadline. */
  readonly open: boolean;
}

class Entry implements Pending {
  constructor(
    readonly owner: Deadlines,
    readonly deadline: number,
    public onTimeout: (() => void) | undefined,
  ) {}

  settle(): boolean {
    return this.owner.settle(this);
  }

  get open(): boolean {
    return this.onTimeout !== undefined;
  }
}

const COMPACT_AT = 1024;

/**
 * Timeouts for calls in flight. Every call gets the same timeout, so deadlines come in the
 * order calls start, and one timer for the oldest open call serves them all: a timer per call
 * would cost more than the rest of the call's bookkeeping. Redis answers a connection in
 * order, so answered calls leave from the front and the queue stays as long as the calls in flight.
 */
export class Deadlines {
  readonly #timeoutMs: number;
  #queue: Entry[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** Starts the clock for one call; `onTimeout` runs once if it is not settled in time. */
  add(onTimeout: () => void): Pending {
    const entry = new Entry(this, performance.now() + this.#timeoutMs, onTimeout);
    this.#queue.push(entry);
    if (this.#timer === undefined) this.#arm(this.#timeoutMs);
    return entry;
  }

  settle(entry: Entry): boolean {
    if (entry.onTimeout === undefined) return false;
    entry.onTimeout = undefined;
    if (this.#queue[this.#head] === entry) this.#dropAnswered();
    return true;
  }

  #dropAnswered(): void {
    const queue = this.#queue;
    let head = this.#head;
    while (head < queue.length && queue[head]!.onTimeout === undefined) head++;
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    } else if (head >= COMPACT_AT && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
    this.#head = head;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(this.#expire, Math.max(1, Math.ceil(ms)));
    // Never keeps the process alive alone: a call in flight has a socket or a reconnect timer that does.
    this.#timer.unref();
  }

  readonly #expire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const entry = queue[this.#head]!;
      if (entry.onTimeout !== undefined && entry.deadline > now) break;
      this.#head++;
      const onTimeout = entry.onTimeout;
      entry.onTimeout = undefined;
      onTimeout?.();
    }
    this.#dropAnswered();
    // An onTimeout (through onError) may have started a call, and armed a timer already.
    if (this.#timer === undefined && this.#head < this.#queue.length) this.#arm(this.#queue[this.#head]!.deadline - now);
  };

  /** Calls still waiting (for tests). */
  get size(): number {
    let open = 0;
    for (let i = this.#head; i < this.#queue.length; i++) if (this.#queue[i]!.onTimeout !== undefined) open++;
    return open;
  }
}

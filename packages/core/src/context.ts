import type { Operation } from './actions.js';
import { copyBytes, describe } from './bytes.js';

/** The caller's per-operation context: a map from string to string (rule C1). */
export type ContextMap = Readonly<Record<string, string>>;

const EMPTY: ContextMap = Object.freeze({});
/**
 * The first value of a number field that should hold a reference to a heap number rather than a
 * number box of its own per object (V8 generalizes a field that held `null` and then a
 * fractional or large number to a plain reference). Overwritten in the constructor.
 */
export const UNBOXED = null as unknown as number;
const hasOwn = Object.prototype.hasOwnProperty;

/**
 * Validates the caller's context and returns a copy of it (frozen by {@link PolicyContext}
 * when a hook first asks for it). `undefined`/`null` mean an
 * empty context (rule C2); entries whose value is `undefined` are dropped; any other
 * non-string value is a TypeError naming the entry, so a typo such as `{ agent_id: 42 }`
 * cannot silently fall into the `unknown` rate-limit bucket.
 *
 * The copy is what makes the context trustworthy: only own enumerable properties count (an
 * inherited `agent_id` is not the caller's), each property is read exactly once (a getter or
 * Proxy cannot answer one thing to the rate limiter and another to a hook), the caller's object
 * is never handed to hooks, and a string with a lone surrogate becomes well-formed the way a key
 * does (U+FFFD, rule P7), so every stage sees and records the same text.
 */
export function normalizeContext(input: unknown, name = 'context'): ContextMap {
  if (input === undefined || input === null) return EMPTY;
  assertContextObject(input, name);
  const copy: Record<string, string> = {};
  let empty = true;
  // for-in rather than Object.keys: no array per operation.
  for (const k in input) {
    if (!hasOwn.call(input, k)) continue;
    if (addEntry(copy, k, (input as Record<string, unknown>)[k], name)) empty = false;
  }
  return empty ? EMPTY : copy;
}

function assertContextObject(input: unknown, name: string): void {
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new TypeError(`${name} must be an object mapping strings to strings, got ${describe(input)}`);
  }
}

/** Adds entry `k` of a caller's context to its copy; false when its value is undefined (dropped). */
function addEntry(copy: Record<string, string>, k: string, v: unknown, name: string): boolean {
  if (typeof v !== 'string') {
    if (v !== undefined) throw new TypeError(`${name}.${k} must be a string, got ${describe(v)}`);
    return false;
  }
  const text = (v as unknown as WellFormed).isWellFormed() ? v : (v as unknown as WellFormed).toWellFormed();
  // An own `__proto__` entry is data like any other; plain assignment would set the prototype.
  if (k === '__proto__') Object.defineProperty(copy, k, { value: text, enumerable: true });
  else copy[k] = text;
  return true;
}

// String.prototype.isWellFormed/toWellFormed are in Node 20 but not in TypeScript's ES2022 library.
interface WellFormed {
  isWellFormed(): boolean;
  toWellFormed(): string;
}

/**
 * The caller's context of one call, checked once ({@link normalizeContext}) and shared by every
 * decision the call makes: one for `put`, `get` or `delete`, every key of a scan, every
 * operation of a batch. Holds what each decision reads of it, looked up once.
 */
export class CallerContext {
  readonly custom: ContextMap;
  readonly agentId: string | undefined;
  readonly sessionId: string | undefined;
  #frozen: boolean;

  constructor(custom: ContextMap) {
    this.custom = custom;
    this.agentId = contextValue(custom, 'agent_id');
    this.sessionId = contextValue(custom, 'session_id');
    this.#frozen = custom === EMPTY;
  }

  /**
   * The map, frozen on first use: freezing every context up front costs more than a whole
   * operation, and until a hook holds it the copy is the engine's alone.
   */
  frozen(): ContextMap {
    if (!this.#frozen) {
      Object.freeze(this.custom);
      this.#frozen = true;
    }
    return this.custom;
  }
}

const NO_CALLER_CONTEXT = new CallerContext(EMPTY);

/** The entries (own enumerable, in order, values as read) a {@link CallerContext} was made from. */
interface MadeFrom {
  keys: string[];
  values: unknown[];
  caller: CallerContext;
}

/**
 * The last caller context made. Most callers pass the same context, or one with the same
 * entries, call after call: such a call reuses it instead of copying and checking the entries
 * again. Compared entry by entry (names, order and values), each property still read once.
 */
let lastMade: MadeFrom | undefined;

/**
 * {@link normalizeContext}, as the {@link CallerContext} the call's decisions share: the last
 * one made when the entries are the same as its (a CallerContext is never changed, and its map
 * is frozen before anything outside the engine sees it).
 */
export function callerContext(input: unknown, name = 'context'): CallerContext {
  if (input === undefined || input === null) return NO_CALLER_CONTEXT;
  assertContextObject(input, name);
  const last = lastMade;
  let n = 0;
  // This call's entries, collected from the first one that differs from the last call's.
  let keys: string[] | undefined;
  let values: unknown[] | undefined;
  for (const k in input) {
    if (!hasOwn.call(input, k)) continue;
    const v: unknown = (input as Record<string, unknown>)[k];
    if (keys === undefined) {
      if (last !== undefined && n < last.keys.length && last.keys[n] === k && last.values[n] === v) {
        n++;
        continue;
      }
      [keys, values] = firstEntries(last, n);
    }
    keys.push(k);
    values!.push(v);
    n++;
  }
  if (keys === undefined) {
    if (last !== undefined && n === last.keys.length) return last.caller;
    [keys, values] = firstEntries(last, n);
  }
  const copy: Record<string, string> = {};
  let empty = true;
  for (let i = 0; i < keys.length; i++) if (addEntry(copy, keys[i]!, values![i], name)) empty = false;
  const caller = empty ? NO_CALLER_CONTEXT : new CallerContext(copy);
  lastMade = { keys, values: values!, caller };
  return caller;
}

/** The first `n` entries of the last context made (the ones this call found the same), as new lists. */
function firstEntries(last: MadeFrom | undefined, n: number): [string[], unknown[]] {
  return last === undefined ? [[], []] : [last.keys.slice(0, n), last.values.slice(0, n)];
}

/** A context value by name: own properties only, so `constructor` or `toString` are not values. */
export function contextValue(context: ContextMap, name: string): string | undefined {
  return hasOwn.call(context, name) ? context[name] : undefined;
}

/** Engine-only methods of {@link PolicyContext}: not exported from the package. */
export const SET_VALUE = Symbol('setValue');
export const NEXT_HOOK = Symbol('nextHook');
/** Engine-only: the context map without freezing it (the engine never writes to it). */
export const CUSTOM = Symbol('custom');

/**
 * What a hook handler receives (rules H2–H4). Everything on it is read-only: a hook changes
 * what is stored or returned only by answering MODIFY. `key` and `value` are copies made for
 * each hook that reads them, so writing into them changes nothing else; `custom` is frozen.
 */
export class PolicyContext {
  /** Set with MODIFY to replace the value (Go/Node style, rule H4). Reset before each hook. */
  modifiedValue: Buffer | Uint8Array | string | undefined = undefined;
  // Private fields behind getters: assigning to any of them throws (a hook in strict code
  // fails closed) instead of silently changing what later stages see.
  readonly #operation: Operation;
  readonly #key: Buffer;
  readonly #keyText: string;
  #value: Buffer | null;
  readonly #caller: CallerContext;
  // Initialized with a non-number first: V8 then keeps the field a plain reference, so the
  // operation's timestamp (a heap number) is shared by every object that records it instead of
  // copied into a number box of its own in each (measured: see docs/performance.md).
  readonly #timestamp: number = UNBOXED;
  #keyCopy: Buffer | undefined = undefined;
  #valueCopy: Buffer | undefined = undefined;

  /** `custom`: the caller's context, normalized ({@link normalizeContext}), or the engine's {@link CallerContext} of it. */
  constructor(operation: Operation, key: Buffer, keyText: string, value: Buffer | null, custom: ContextMap | CallerContext, timestamp: number) {
    this.#operation = operation;
    this.#key = key;
    this.#keyText = keyText;
    this.#value = value;
    this.#caller = custom instanceof CallerContext ? custom : new CallerContext(custom);
    this.#timestamp = timestamp;
  }

  get operation(): Operation {
    return this.#operation;
  }

  /** The key as UTF-8 text (invalid bytes replaced by U+FFFD). */
  get keyText(): string {
    return this.#keyText;
  }

  get agentId(): string | undefined {
    return this.#caller.agentId;
  }

  get sessionId(): string | undefined {
    return this.#caller.sessionId;
  }

  /** Milliseconds from the engine's clock when the operation started. */
  get timestamp(): number {
    return this.#timestamp;
  }

  /** The caller's whole context map (a frozen copy), including `agent_id` and `session_id`. */
  get custom(): ContextMap {
    return this.#caller.frozen();
  }

  /** The key as bytes: this hook's own copy. */
  get key(): Buffer {
    return (this.#keyCopy ??= copyBytes(this.#key));
  }

  /**
   * The value being written (before/after write), the stored value (after read), or null
   * (before read, delete): this hook's own copy.
   */
  get value(): Buffer | null {
    if (this.#value === null) return null;
    return (this.#valueCopy ??= copyBytes(this.#value));
  }

  /** A context value by name, or undefined (rule C1). */
  get(name: string): string | undefined {
    return contextValue(this.#caller.custom, name);
  }

  /** The context map for the engine's own reads: freezing is for what hooks hold. */
  [CUSTOM](): ContextMap {
    return this.#caller.custom;
  }

  /** The value later hooks see. */
  [SET_VALUE](value: Buffer | null): void {
    this.#value = value;
    this.#valueCopy = undefined;
  }

  /** Called before each hook, so no hook sees another hook's copies or modifiedValue. */
  [NEXT_HOOK](): void {
    this.modifiedValue = undefined;
    this.#keyCopy = undefined;
    this.#valueCopy = undefined;
  }
}

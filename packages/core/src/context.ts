import type { Operation } from './actions.js';
import { describe } from './bytes.js';

/** The caller's per-operation context: a map from string to string (rule C1). */
export type ContextMap = Readonly<Record<string, string>>;

const EMPTY: ContextMap = Object.freeze({});

/**
 * Validates the caller's context. `undefined`/`null` mean an empty context (rule C2);
 * entries whose value is `undefined` are dropped; any other non-string value is a TypeError
 * naming the entry, so a typo such as `{ agent_id: 42 }` cannot silently fall into the
 * `unknown` rate-limit bucket.
 */
export function normalizeContext(input: unknown, name = 'context'): ContextMap {
  if (input === undefined || input === null) return EMPTY;
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new TypeError(`${name} must be an object mapping strings to strings, got ${describe(input)}`);
  }
  let copy: Record<string, string> | undefined;
  // for-in rather than Object.keys: no array per operation. Inherited keys are skipped, as
  // Object.keys would.
  for (const k in input) {
    if (!Object.prototype.hasOwnProperty.call(input, k)) continue;
    const v = (input as Record<string, unknown>)[k];
    if (typeof v === 'string') continue;
    if (v !== undefined) throw new TypeError(`${name}.${k} must be a string, got ${describe(v)}`);
    copy ??= { ...(input as Record<string, string>) };
    delete copy[k];
  }
  return copy ?? (input as ContextMap);
}

/**
 * What a hook handler receives. `value` is the value being written (before/after write), the
 * stored value (after read), or null (before read, delete). A handler may set `modifiedValue`
 * and return MODIFY (rule H4), or return bytes directly.
 */
export class PolicyContext {
  readonly operation: Operation;
  /** The key as bytes. */
  readonly key: Buffer;
  /** The key as UTF-8 text (invalid bytes replaced by U+FFFD). */
  readonly keyText: string;
  value: Buffer | null;
  readonly agentId: string | undefined;
  readonly sessionId: string | undefined;
  /** Milliseconds from the engine's clock when the operation started. */
  readonly timestamp: number;
  /** The caller's whole context map, including `agent_id` and `session_id`. */
  readonly custom: ContextMap;
  /** Set with MODIFY to replace the value (Go/Node style, rule H4). Reset before each hook. */
  modifiedValue: Buffer | Uint8Array | string | undefined = undefined;

  constructor(operation: Operation, key: Buffer, keyText: string, value: Buffer | null, custom: ContextMap, timestamp: number) {
    this.operation = operation;
    this.key = key;
    this.keyText = keyText;
    this.value = value;
    this.custom = custom;
    this.agentId = custom.agent_id;
    this.sessionId = custom.session_id;
    this.timestamp = timestamp;
  }

  /** A context value by name, or undefined (rule C1). */
  get(name: string): string | undefined {
    return Object.prototype.hasOwnProperty.call(this.custom, name) ? this.custom[name] : undefined;
  }
}

import { Environment } from '@marcbachmann/cel-js';
import type { PolicyTrigger } from '../actions.js';
import type { PolicyContext } from '../context.js';

/**
 * CEL conditions (https://cel.dev) over one operation. Compiled and type-checked once, when a
 * document loads; evaluated synchronously, so no timeout applies. A condition that fails at
 * evaluation time (a missing context key read without `has()`, a type error) fails the
 * operation closed like a throwing handler (rule H10).
 *
 * The variables (docs/policy-documents.md, "CEL variables"):
 */
const VARIABLES = {
  /** The key as UTF-8 text (invalid bytes replaced by U+FFFD). */
  key: 'string',
  /** The value written (before/after write) or read (after read); empty bytes when there is none. */
  value: 'bytes',
  /** `value` as UTF-8 text. */
  value_text: 'string',
  /** Whether the trigger has a value (writes and after_read). */
  has_value: 'bool',
  /** The caller's context map; read optional entries with `has(context.agent_id)` first. */
  context: 'map<string, string>',
  /** `read`, `write` or `delete`. */
  operation: 'string',
  /** The trigger being evaluated, such as `before_write`. */
  trigger: 'string',
  /** The engine clock at the start of the operation. */
  now: 'google.protobuf.Timestamp',
} as const;

export const CEL_VARIABLES: Readonly<Record<keyof typeof VARIABLES, string>> = VARIABLES;

const env = new Environment({ limits: { maxAstNodes: 2000, maxDepth: 64 } });
for (const [name, type] of Object.entries(VARIABLES)) env.registerVariable(name, type);

export interface CompiledCondition {
  readonly source: string;
  /** True when the condition holds; throws when it cannot be evaluated or is not a bool. */
  test(activation: ConditionInput): boolean;
}

/** A compile error with the offset in the expression where it was found. */
export class ConditionError extends Error {
  override readonly name = 'ConditionError';
  constructor(
    message: string,
    /** 0-based offset into the expression. */
    readonly offset: number | undefined,
  ) {
    super(message);
  }
}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0]!;
}

function offsetOf(error: unknown): number | undefined {
  const pos = (error as { node?: { pos?: unknown } })?.node?.pos;
  return typeof pos === 'number' ? pos : undefined;
}

/** Parses and type-checks `source`; a condition must be of type bool. */
export function compileCondition(source: string): CompiledCondition {
  let program: (input: object) => unknown;
  try {
    program = env.parse(source) as unknown as (input: object) => unknown;
  } catch (error) {
    throw new ConditionError(firstLine(error), offsetOf(error));
  }
  const checked = env.check(source) as { valid: boolean; type?: string; error?: unknown };
  if (!checked.valid) throw new ConditionError(firstLine(checked.error), offsetOf(checked.error));
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    throw new ConditionError(`condition must be of type bool, is ${checked.type}`, 0);
  }
  return Object.freeze({
    source,
    test(input: ConditionInput): boolean {
      const result = program(input);
      if (typeof result !== 'boolean') throw new TypeError(`condition evaluated to ${typeof result}, not bool`);
      return result;
    },
  });
}

const EMPTY = new Uint8Array(0);

/**
 * The variables for one trigger of one operation, read lazily: a condition that never
 * mentions `value_text` does not decode the value. Values are the engine's own copies;
 * CEL cannot change them.
 */
export class ConditionInput {
  #valueText: string | undefined;
  #now: Date | undefined;
  constructor(
    readonly ctx: PolicyContext,
    readonly trigger: PolicyTrigger,
  ) {}
  get #raw(): Buffer | null {
    return this.ctx.value;
  }
  get key(): string {
    return this.ctx.keyText;
  }
  get value(): Uint8Array {
    return this.#raw ?? EMPTY;
  }
  get value_text(): string {
    return (this.#valueText ??= this.#raw === null ? '' : this.#raw.toString('utf8'));
  }
  get has_value(): boolean {
    return this.#raw !== null;
  }
  get context(): object {
    return this.ctx.custom;
  }
  get operation(): string {
    return this.ctx.operation;
  }
  get now(): Date {
    return (this.#now ??= new Date(this.ctx.timestamp));
  }
}

import diagnosticsChannel from 'node:diagnostics_channel';
import type { Operation } from '../actions.js';
import type { DecisionEvent } from './observation.js';

/**
 * `node:diagnostics_channel` names (docs/diagnostics.md). Channels are process-wide by name, so
 * every copy of this package publishes to the same two channels.
 */
export const DECISION_CHANNEL = 'sochdb-policy:decision';
/** A tracing channel: `tracing:sochdb-policy:operation:start`, `:end`, `:asyncStart`, `:asyncEnd`, `:error`. */
export const OPERATION_CHANNEL = 'sochdb-policy:operation';

/** One {@link DecisionEvent} per operation, published as the operation ends. */
export const decisionChannel = diagnosticsChannel.channel(DECISION_CHANNEL);

/**
 * The message of the `sochdb-policy:operation` tracing channel: one object per operation,
 * from `start` to `asyncEnd`. `decision` is set before `asyncStart` is published; the channel
 * adds `result` (a resolved operation) or `error` (a rejected one).
 */
export interface OperationMessage {
  operation: Operation;
  decision: DecisionEvent | undefined;
  result?: unknown;
  error?: unknown;
}

export const operationChannel = diagnosticsChannel.tracingChannel<unknown, OperationMessage>(OPERATION_CHANNEL);

export { PolicyAction, PolicyTrigger, OPERATIONS, isPolicyAction, type Operation } from './actions.js';
export { PolicyViolation, PolicyViolationError, ViolationCode, violationMessage, type PolicyViolationOptions } from './errors.js';
export { toBuffer, toKey, keyText, describe as describeValue, type BytesLike } from './bytes.js';
export { PolicyContext, normalizeContext, type ContextMap } from './context.js';
export { compilePattern, matchPattern, assertPattern, PatternMatcher, MAX_PATTERN_LENGTH, MAX_EXPANDED_LENGTH } from './hooks/pattern.js';
export { HookIndex, type IndexedHook } from './hooks/hook-index.js';
export type { PolicyHandler, HandlerResult } from './hooks/handler.js';
export { storeSupports, requireCapability, NotSupportedError } from './storage/supports.js';
export { normalizeRange, prefixEnd, inRange, type RangeOptions } from './storage/range.js';
export { BaseKeyValueIterator, IteratorError } from './storage/iterator.js';
export { assertBatchOperations } from './storage/batch.js';
export {
  AUDIT_RESULTS,
  type KeyValueStore,
  type StoreSupports,
  type KeyRange,
  type KeyValueEntry,
  type KeyValueIterator,
  type BatchOperation,
  type AuditSink,
  type AuditEntry,
  type AuditQuery,
  type AuditResult,
  type RateLimitStore,
  type BucketRequest,
  type RateLimitDecision,
} from './contracts.js';
export { normalizeAuditQuery, matchesAuditQuery, DEFAULT_AUDIT_LIMIT } from './audit/audit-query.js';
export { UNKNOWN_SCOPE_VALUE, type RateLimit, type RateLimitOperation, type RateLimitOptions } from './limits/rate-limit.js';
export { MemoryStore } from './memory/memory-store.js';
export { MemoryAuditSink, DEFAULT_MAX_ENTRIES, MAX_MAX_ENTRIES, type MemoryAuditSinkOptions } from './memory/memory-audit-sink.js';
export { MemoryRateLimitStore } from './memory/memory-rate-limit-store.js';
export { PolicyEngine, DEFAULT_MAX_KEY_BYTES, type PolicyEngineOptions, type EnableAuditOptions, type PolicyCallContext, type DecisionListener } from './engine.js';
export { DEFAULT_TIMEOUTS, StepTimeout, type PolicyTimeouts, type TimeoutStage } from './timeouts.js';
export { type HookOptions } from './engine.js';
export { PolicyScan, type ScanOptions } from './operations/scan.js';
export type { PolicyBatchOperation } from './operations/batch.js';
export { PolicyDocumentError, parseDocumentText as parsePolicyText, readDocumentFile as readPolicyFile, validateDocument as validatePolicyDocument, formatIssue, type PolicyDocument, type RuleSpec, type RuleEffect, type CompositionMode, type DocumentIssue, type ParsedDocument, type DocumentFormat } from './rules/document.js';
export { policyDocumentSchema } from './rules/schema.js';
export { watchPolicyFile, type WatchPolicyOptions, type PolicyWatcher } from './rules/watch.js';
export { CEL_VARIABLES } from './rules/condition.js';
export { DEFAULT_DENY_ID, type RuleRef } from './rules/rule.js';
export type { Composition } from './rules/compose.js';
export type { LoadOptions } from './rules/load.js';
export type { RuleCheck } from './rules/evaluate.js';
export type { EvaluateOptions, EvaluationAnswer, RateLimitAnswer } from './rules/explain.js';
export { isDecisionId, decisionIdTime } from './events/decision-id.js';
export { DECISION_CHANNEL, OPERATION_CHANNEL, type OperationMessage } from './events/channels.js';
export { STORAGE_ERROR, type DecisionEvent, type DecisionDurations, type DecisionRateLimit } from './events/observation.js';
export type { DecisionRecord } from './events/decision-record.js';

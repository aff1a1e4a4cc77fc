/**
 * The shape of conformance/cases/*.json, as TypeScript types. The JSON Schema in
 * conformance/schema/case-file.schema.json is the normative description; README.md explains
 * every field. Names are snake_case because the files are read by runners in any language.
 */

/** UTF-8 text, or raw bytes as hex or base64 when they are not valid UTF-8 (rule P7). */
export type BytesSpec = string | { hex: string } | { base64: string };

export type Action = 'allow' | 'deny' | 'modify' | 'log';
export type Trigger = 'before_write' | 'after_write' | 'before_read' | 'after_read' | 'before_delete' | 'after_delete';
export type HelperName = 'deny_all' | 'allow_all' | 'require_agent_id' | 'redact_value' | 'log_and_allow';

export type Condition = { context: string; is: 'present' | 'absent' } | { context: string; equals: string };

/** A declarative handler: exactly one behaviour, optionally recording its calls. */
export type HandlerSpec = { record?: string } & (
  | { return: Action | null }
  | { return_bytes: BytesSpec }
  | { return_input: true }
  | { set_modified: BytesSpec | null }
  | { if: Condition; then: HandlerSpec; else?: HandlerSpec }
  | { helper: HelperName; args?: BytesSpec[] }
  | { throw: string }
  | { return_invalid: true }
  | { async: HandlerSpec }
);

export interface HookSpec {
  /** Names the hook (`{ id }`) in violations and audit entries. */
  id?: string;
  trigger: Trigger;
  pattern: string;
  handler: HandlerSpec;
}

export interface RateLimitSpec {
  operation: string;
  max_per_minute: number;
  scope?: string;
}

export type AuditSetup = boolean | { max_entries: number };

export interface Setup {
  /** Storage contents before the first step, written past the engine. */
  data?: { key: BytesSpec; value: BytesSpec }[];
  hooks?: HookSpec[];
  rate_limits?: RateLimitSpec[];
  /** Off when absent or false (rule A1); true enables with the default size. */
  audit?: AuditSetup;
  /** A policy document (docs/policy-documents.md), loaded after the hooks. */
  policy?: Record<string, unknown>;
}

export interface ViolationExpectation {
  code: 'denied' | 'rate_limited' | 'hook_failed' | 'limiter_unavailable' | 'audit_unavailable';
  /** The seed SDKs' message (rule E1), where they have one. */
  message?: string;
  /** For `batch`: the index of the refused operation (rule M6); checked only when given. */
  index?: number;
}

/** A recorded handler call: its name, or its name with what it saw. */
export type CallExpectation = string | { name: string; key?: BytesSpec; value?: BytesSpec | null };

/** What a step must produce: exactly one of ok, value, violation, error; plus optional side checks. */
export interface Outcome {
  ok?: true;
  value?: BytesSpec | null;
  violation?: ViolationExpectation;
  /** `TypeError`/`RangeError` for bad arguments; `storage` for the storage's own error (rule E2). */
  error?: 'TypeError' | 'RangeError' | 'storage';
  /** Handlers with `record` that ran during this step, in order. */
  calls?: CallExpectation[];
  /** Lines logged by `log_and_allow` during this step. */
  logs?: string[];
  /** The deciding rule ids: `[violation.ruleId]` on a violation, `[]` when none decided. */
  reason?: string[];
}

/** What a dry run (`evaluate`) must answer. */
export interface EvaluateExpectation {
  allowed: boolean;
  action?: Action;
  reason?: string[];
  applied_rules?: string[];
  shadow?: string | null;
  rate_limit?: 'none' | 'admitted' | 'limited' | 'unknown';
}

export interface AuditEntryExpectation {
  operation: 'read' | 'write' | 'delete';
  key: string;
  agent_id: string | null;
  session_id: string | null;
  result: 'allowed' | 'denied' | 'rate_limited' | 'redacted' | 'error';
  /** The deciding rule id, null when none (only checked when given). */
  rule_id?: string | null;
  applied_rules?: string[];
  shadow_rule_id?: string | null;
  /** Whether the entry has a decision id, and whether it equals the previous step's violation's. */
  decision_id?: 'present' | 'same_as_violation';
  /**
   * A label for the entry's `batchId` (one scan or batch, rules M4, M6): entries with the same
   * label must share one id, different labels different ids. Checked where the sink keeps it.
   */
  batch?: string;
}

export interface AuditQuerySpec {
  limit?: number;
  agent_id?: string;
  operation?: string;
}

export type Context = Record<string, unknown>;

/** The range of a `scan` step (docs/core.md): bounds and prefix as bytes. */
export interface ScanRangeSpec {
  gt?: BytesSpec;
  gte?: BytesSpec;
  lt?: BytesSpec;
  lte?: BytesSpec;
  prefix?: BytesSpec;
  limit?: number;
  reverse?: boolean;
  values?: boolean;
}

/** One entry a scan returns; `value` null when the range asked for keys only. */
export interface ScanEntryExpectation {
  key: BytesSpec;
  value: BytesSpec | null;
}

/**
 * What a `scan` step must produce: the entries returned, in order, and how the scan ended —
 * at its end (or after `take` entries, the caller leaving early) unless `violation` or
 * `error` says it failed after those entries.
 */
export interface ScanExpectation {
  entries: ScanEntryExpectation[];
  violation?: ViolationExpectation;
  error?: 'storage';
  calls?: CallExpectation[];
}

export type BatchOperationSpec = { type: 'put'; key: BytesSpec; value: BytesSpec } | { type: 'del'; key: BytesSpec };

export type Step =
  | { op: 'put'; key: BytesSpec; value: BytesSpec; context?: Context; expect: Outcome }
  | { op: 'get'; key: BytesSpec; context?: Context; expect: Outcome }
  | { op: 'delete'; key: BytesSpec; context?: Context; expect: Outcome }
  | { op: 'raw_get'; key: BytesSpec; expect: { value: BytesSpec | null } }
  | { op: 'advance_clock'; ms: number }
  | { op: 'audit'; query?: AuditQuerySpec; expect: { entries: AuditEntryExpectation[] } | Outcome }
  | ({ op: 'hook'; expect?: Outcome } & HookSpec)
  | ({ op: 'add_rate_limit'; expect?: Outcome } & RateLimitSpec)
  | { op: 'enable_audit'; max_entries?: number; expect?: Outcome }
  | { op: 'disable_audit' }
  | { op: 'close_storage' }
  | { op: 'scan'; range?: ScanRangeSpec; context?: Context; take?: number; nextv?: number; expect: ScanExpectation }
  | { op: 'filter_allowed'; keys: BytesSpec[]; context?: Context; expect: { keys: BytesSpec[] } | Outcome }
  | { op: 'batch'; operations: BatchOperationSpec[]; context?: Context; expect: Outcome }
  | { op: 'evaluate'; operation: 'read' | 'write' | 'delete'; key: BytesSpec; value?: BytesSpec; context?: Context; trigger?: Trigger; expect: EvaluateExpectation };

export interface Case {
  id: string;
  description: string;
  rules: string[];
  setup?: Setup;
  steps: Step[];
  /**
   * Capabilities the case needs beyond the seed's API. `policy_documents`: rules as data,
   * composition modes, decision ids and `evaluate` (the TypeScript target); the Python, Go and
   * Node SDKs have none, and runners without it report the case as unsupported.
   * `scan_batch`: `scan`, `filter_allowed` and `batch` steps (docs/core.md); no reference SDK
   * has them under policy.
   */
  requires?: ('policy_documents' | 'scan_batch')[];
}

export interface PatternRow {
  id: string;
  rules: string[];
  pattern: string;
  key: BytesSpec;
  /** Whether a hook on `pattern` runs for `key`. */
  matches?: boolean;
  /** Instead of `matches`: registering a hook with `pattern` must fail with this error. */
  error?: 'TypeError' | 'RangeError';
  note?: string;
}

export type Sdk = 'python' | 'go' | 'rust' | 'node';
export const SDKS: readonly Sdk[] = ['python', 'go', 'rust', 'node'];

/** Per reference SDK: case id → one-line reason citing a rule id. */
export type Divergences = Partial<Record<Sdk, Record<string, string>>>;

export interface CaseFile {
  area: string;
  description: string;
  divergences?: Divergences;
  cases?: Case[];
  table?: PatternRow[];
}

/** A case file as loaded: its path, and the pattern table turned into cases. */
export interface LoadedFile {
  file: string;
  data: CaseFile;
  cases: Case[];
}

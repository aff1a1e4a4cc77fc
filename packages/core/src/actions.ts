/**
 * What a hook decides. ALLOW and LOG let evaluation continue; the first DENY or MODIFY
 * ends evaluation of that trigger (rule H2). LOG behaves as ALLOW (rule K1).
 */
export const PolicyAction = {
  ALLOW: 'allow',
  DENY: 'deny',
  MODIFY: 'modify',
  LOG: 'log',
} as const;
export type PolicyAction = (typeof PolicyAction)[keyof typeof PolicyAction];

/** When a hook runs relative to the storage operation (rules O1–O4). */
export const PolicyTrigger = {
  BEFORE_WRITE: 'before_write',
  AFTER_WRITE: 'after_write',
  BEFORE_READ: 'before_read',
  AFTER_READ: 'after_read',
  BEFORE_DELETE: 'before_delete',
  AFTER_DELETE: 'after_delete',
} as const;
export type PolicyTrigger = (typeof PolicyTrigger)[keyof typeof PolicyTrigger];

/** The three policed operations, as they appear in audit entries and rate limits. */
export type Operation = 'read' | 'write' | 'delete';
export const OPERATIONS: readonly Operation[] = ['read', 'write', 'delete'];

const ACTIONS = new Set<string>(Object.values(PolicyAction));
export function isPolicyAction(value: unknown): value is PolicyAction {
  return typeof value === 'string' && ACTIONS.has(value);
}

const TRIGGERS = new Set<string>(Object.values(PolicyTrigger));
export function isPolicyTrigger(value: unknown): value is PolicyTrigger {
  return typeof value === 'string' && TRIGGERS.has(value);
}

/** The operation a trigger belongs to. */
export function triggerOperation(trigger: PolicyTrigger): Operation {
  if (trigger.endsWith('_write')) return 'write';
  if (trigger.endsWith('_read')) return 'read';
  return 'delete';
}

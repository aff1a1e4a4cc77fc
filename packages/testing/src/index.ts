export { runKeyValueStoreSuite, type KeyValueStoreSuiteOptions } from './key-value-store-suite.js';
export { runAuditSinkSuite, auditSinkSupports, type AuditSinkSuiteOptions, type AuditSinkCapabilities } from './audit-sink-suite.js';
export { runRateLimitStoreSuite, type RateLimitStoreSuiteOptions } from './rate-limit-store-suite.js';

export { runKeyValueStoreSuite, type KeyValueStoreSuiteOptions } from './key-value-store-suite.js';
export { runAuditSinkSuite, type AuditSinkSuiteOptions } from './audit-sink-suite.js';
export { runRateLimitStoreSuite, type RateLimitStoreSuiteOptions } from './rate-limit-store-suite.js';

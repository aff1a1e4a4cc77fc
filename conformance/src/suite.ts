import type { Combination } from './adapter-types.js';
import type { Case } from './case-types.js';
import { storeSupports } from '@sochdb-policy/core';
import { executeCase, peeksRateLimits, sizesAuditLog, storeCapabilities, takesSeveralTokens } from './execute.js';

export interface CaseOutcome {
  id: string;
  status: 'passed' | 'failed' | 'not-applicable';
  /** Why it failed, or why it does not apply to this combination. */
  detail?: string;
}

/** How long one case may take before it counts as failed (a hung adapter must not hang the run). */
export const CASE_TIMEOUT_MS = 15_000;

/** Cases of one combination in flight at once. */
export const CONCURRENCY = 4;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Why a combination cannot run here, or undefined (throws where it must run, e.g. REQUIRE_REDIS=1). */
export function unavailableReason(combination: Combination): string | undefined {
  for (const adapter of [combination.storage, combination.rateLimits, combination.audit]) {
    const reason = adapter.unavailable?.();
    if (reason !== undefined) return `${adapter.name}: ${reason}`;
  }
  return undefined;
}

/** Runs `cases` on one combination, each on fresh adapter instances. */
export async function runCombination(combination: Combination, cases: readonly Case[]): Promise<CaseOutcome[]> {
  const sessions = [] as { close(): Promise<void> }[];
  try {
    const storage = await combination.storage.start();
    sessions.push(storage);
    const rateLimits = await combination.rateLimits.start();
    sessions.push(rateLimits);
    const audit = await combination.audit.start();
    sessions.push(audit);

    const runOne = async (c: Case, n: number): Promise<CaseOutcome> => {
      if (!combination.audit.sizedLog && sizesAuditLog(c)) {
        return { id: c.id, status: 'not-applicable', detail: `audit=${combination.audit.name} has no max_entries (A1)` };
      }
      const store = await storage.open(n);
      const rateLimitStore = await rateLimits.open(n);
      const lacking = storeCapabilities(c).filter((capability) => !storeSupports(store)[capability]);
      if (lacking.length > 0) {
        await store.close();
        await rateLimitStore.close?.();
        return { id: c.id, status: 'not-applicable', detail: `storage=${combination.storage.name} has no ${lacking.join(', ')} capability (M1, M6)` };
      }
      if (typeof rateLimitStore.peek !== 'function' && peeksRateLimits(c)) {
        await store.close();
        await rateLimitStore.close?.();
        return { id: c.id, status: 'not-applicable', detail: `rate-limits=${combination.rateLimits.name} has no peek capability (D9)` };
      }
      if (rateLimitStore.supports?.tokens !== true && takesSeveralTokens(c)) {
        await store.close();
        await rateLimitStore.close?.();
        return { id: c.id, status: 'not-applicable', detail: `rate-limits=${combination.rateLimits.name} cannot take several tokens at once (M7, supports.tokens)` };
      }
      const auditSink = await audit.open(n);
      let detail: string | undefined;
      try {
        detail = await withTimeout(executeCase(c, { store, rateLimitStore, auditSink }), CASE_TIMEOUT_MS, 'case');
      } catch (error) {
        detail = `runner error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
      } finally {
        await store.close();
        await rateLimitStore.close?.();
        await auditSink?.close?.();
      }
      return detail === undefined ? { id: c.id, status: 'passed' } : { id: c.id, status: 'failed', detail };
    };

    // Cases share nothing, so a few run at once: opening a fresh RocksDB or audit file per
    // case mostly waits on the disk.
    const out: CaseOutcome[] = new Array(cases.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < cases.length) {
        const n = next++;
        out[n] = await runOne(cases[n]!, n);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, cases.length) }, worker));
    return out;
  } finally {
    for (const session of sessions.reverse()) await session.close();
  }
}

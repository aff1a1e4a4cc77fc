import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEntry, AuditSink } from '@sochdb-policy/core';

/** What an {@link AuditSink} can do beyond append and query (the contract's `AuditSinkSupports`). */
export type AuditSinkCapabilities = NonNullable<AuditSink['supports']>;

/**
 * The capabilities of `sink` as booleans. A capability counts only when the sink declares it
 * in `supports` and, where it has one, has the method (`stream`: `entries`).
 */
export function auditSinkSupports(sink: AuditSink): { stream: boolean; decisionFields: boolean } {
  return { stream: sink.supports?.stream === true && typeof sink.entries === 'function', decisionFields: sink.supports?.decisionFields === true };
}

/** Options of {@link runAuditSinkSuite}; `S` is the sink class the factory makes, which `reopen` sees. */
export interface AuditSinkSuiteOptions<S extends AuditSink = AuditSink> {
  /** A fresh, empty sink for each test. */
  factory: () => S | Promise<S>;
  /** For persistent sinks: closes `sink` and opens it again on the same data. */
  reopen?: (sink: S) => AuditSink | Promise<AuditSink>;
  name?: string;
  /**
   * The optional capabilities the sink declares in `supports` (a test checks the sink
   * declares exactly these); each one named here gets its own tests. @default {}
   */
  supports?: AuditSinkCapabilities;
}

function entry(i: number, over: Partial<AuditEntry> = {}): AuditEntry {
  return {
    timestamp: 1_000 + i,
    operation: (['write', 'read', 'delete'] as const)[i % 3],
    key: `k/${i}`,
    agentId: `agent_${i % 2}`,
    sessionId: i % 4 === 0 ? null : `s${i % 4}`,
    result: i % 5 === 0 ? 'denied' : 'allowed',
    ...over,
  };
}

/**
 * The behaviour every {@link AuditSink} must have (rules A2, A3). Call it at the top level of
 * a test file run by vitest (3 or later, a peer dependency you install).
 */
export function runAuditSinkSuite<S extends AuditSink = AuditSink>({ factory, reopen, name = 'AuditSink', supports = {} }: AuditSinkSuiteOptions<S>): void {
  const expected = { stream: supports.stream === true, decisionFields: supports.decisionFields === true };
  describe(`${name} contract`, () => {
    let open: AuditSink[] = [];
    const make = async (): Promise<S> => {
      const sink = await factory();
      open.push(sink);
      return sink;
    };
    const fill = async (sink: AuditSink, n: number) => {
      for (let i = 0; i < n; i++) await sink.append(entry(i));
    };
    afterEach(async () => {
      for (const s of open) await s.close?.();
      open = [];
    });

    it('returns entries as appended, oldest first', async () => {
      const sink = await make();
      await fill(sink, 3);
      const got = await sink.query({ limit: 10 });
      expect(got).toEqual([entry(0), entry(1), entry(2)]);
    });

    it('keeps every field, including null ids and non-ASCII keys', async () => {
      const sink = await make();
      const e = entry(4, { key: 'users/zoë/\uFFFD', agentId: null, sessionId: null, result: 'rate_limited' });
      await sink.append(e);
      expect(await sink.query({})).toEqual([e]);
    });

    it('returns the newest `limit` entries, oldest first', async () => {
      const sink = await make();
      await fill(sink, 10);
      expect((await sink.query({ limit: 3 })).map((e) => e.key)).toEqual(['k/7', 'k/8', 'k/9']);
    });

    it('defaults limit to 100', async () => {
      const sink = await make();
      await fill(sink, 120);
      const got = await sink.query({});
      expect(got.length).toBe(100);
      expect(got[0]!.key).toBe('k/20');
    });

    it('filters before limiting (rule A3)', async () => {
      const sink = await make();
      await fill(sink, 30);
      const got = await sink.query({ limit: 5, agentId: 'agent_1' });
      expect(got.map((e) => e.key)).toEqual(['k/21', 'k/23', 'k/25', 'k/27', 'k/29']);
    });

    it('filters by operation, result and time range', async () => {
      const sink = await make();
      await fill(sink, 30);
      expect((await sink.query({ operation: 'read', limit: 100 })).every((e) => e.operation === 'read')).toBe(true);
      expect((await sink.query({ operation: 'read', limit: 100 })).length).toBe(10);
      expect((await sink.query({ result: 'denied', limit: 100 })).map((e) => e.key)).toEqual(['k/0', 'k/5', 'k/10', 'k/15', 'k/20', 'k/25']);
      expect((await sink.query({ since: 1_010, until: 1_012 })).map((e) => e.key)).toEqual(['k/10', 'k/11', 'k/12']);
      expect(await sink.query({ agentId: 'nobody' })).toEqual([]);
    });

    it('returns copies: mutating a result does not change the log', async () => {
      const sink = await make();
      await fill(sink, 1);
      const [first] = await sink.query({});
      first!.key = 'tampered';
      expect((await sink.query({}))[0]!.key).toBe('k/0');
    });

    it('rejects a bad limit', async () => {
      const sink = await make();
      await expect(async () => sink.query({ limit: -1 })).rejects.toThrow(RangeError);
    });

    it('declares exactly the capabilities the suite was told (supports)', async () => {
      expect(auditSinkSupports(await make())).toEqual(expected);
    });

    if (expected.decisionFields) {
      it('keeps the decision fields and returns them from query (supports.decisionFields)', async () => {
        const sink = await make();
        const decided: AuditEntry = {
          timestamp: 1_700_000_000_000,
          operation: 'write',
          key: 'system/config',
          agentId: 'rogue',
          sessionId: null,
          result: 'denied',
          decisionId: '0190a2b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b',
          ruleId: 'block-system-writes',
          appliedRules: ['log-writes', 'block-system-writes'],
          shadowRuleId: 'stricter-writes',
          shadowAction: 'deny',
        };
        await sink.append(decided);
        const [got] = await sink.query({ ruleId: 'block-system-writes' });
        expect(got).toMatchObject(decided);
      });
    }

    if (expected.stream) {
      const all = async (sink: AuditSink, q: Parameters<NonNullable<AuditSink['entries']>>[0] = {}) => {
        const out: AuditEntry[] = [];
        for await (const e of sink.entries!(q)) out.push(e);
        return out;
      };
      const keys = (es: AuditEntry[]) => es.map((e) => e.key);
      const range = (from: number, to: number, step = 1) => Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => `k/${from + i * step}`);

      it('entries: every entry, oldest first, no default limit; newest first with order desc', async () => {
        const sink = await make();
        await fill(sink, 250);
        const asc = await all(sink);
        expect(asc.length).toBe(250);
        expect(asc[0]).toEqual(entry(0));
        expect(keys(asc)).toEqual(range(0, 249));
        expect(keys(await all(sink, { order: 'desc' }))).toEqual(range(0, 249).reverse());
      });

      it('entries: the filters of query, and limit counts in iteration order', async () => {
        const sink = await make();
        await fill(sink, 30);
        expect(keys(await all(sink, { agentId: 'agent_1' }))).toEqual(range(1, 29, 2));
        expect(keys(await all(sink, { result: 'denied', order: 'desc' }))).toEqual(['k/25', 'k/20', 'k/15', 'k/10', 'k/5', 'k/0']);
        expect(keys(await all(sink, { operation: 'read', since: 1_010, until: 1_020 }))).toEqual(['k/10', 'k/13', 'k/16', 'k/19']);
        expect(keys(await all(sink, { agentId: 'agent_0', limit: 3 }))).toEqual(['k/0', 'k/2', 'k/4']);
        expect(keys(await all(sink, { agentId: 'agent_0', limit: 3, order: 'desc' }))).toEqual(['k/28', 'k/26', 'k/24']);
        expect(await all(sink, { agentId: 'nobody' })).toEqual([]);
        expect(await all(sink, { limit: 0 })).toEqual([]);
        expect((await all(sink, { limit: Infinity })).length).toBe(30);
      });

      it('entries: the cursor resumes where a read stopped, in both orders, with filters', async () => {
        const sink = await make();
        await fill(sink, 40);
        for (const order of ['asc', 'desc'] as const) {
          const whole = keys(await all(sink, { order, agentId: 'agent_1' }));
          const got: string[] = [];
          let after: string | undefined;
          for (let page = 0; page < 10; page++) {
            const it = sink.entries!({ order, agentId: 'agent_1', after, limit: 6 });
            const batch = await it.nextv(100);
            expect(await it.next()).toBeUndefined();
            got.push(...keys(batch));
            if (batch.length > 0) expect(typeof it.cursor).toBe('string');
            else expect(it.cursor).toBe(after);
            after = it.cursor;
            await it.close();
          }
          expect(got).toEqual(whole);
          // A cursor from the middle of a break-ed loop too.
          const it = sink.entries!({ order });
          let n = 0;
          for await (const _ of it) if (++n === 7) break;
          expect(keys(await all(sink, { order, after: it.cursor })).length).toBe(40 - 7);
        }
      });

      it('entries: yields copies; entries appended during a read come after it, never twice', async () => {
        const sink = await make();
        await fill(sink, 5);
        const it = sink.entries!();
        const first = (await it.next())!;
        first.key = 'tampered';
        await sink.append(entry(5));
        const rest = keys(await it.nextv(100));
        expect(rest.slice(0, 4)).toEqual(['k/1', 'k/2', 'k/3', 'k/4']);
        expect(rest.length === 4 || (rest.length === 5 && rest[4] === 'k/5')).toBe(true);
        expect(keys(await all(sink)).slice(0, 1)).toEqual(['k/0']);
        await it.close();
      });

      it('entries: break releases it; later calls reject with iterator_closed; one call at a time', async () => {
        const sink = await make();
        await fill(sink, 10);
        const it = sink.entries!();
        for await (const e of it) {
          expect(e.key).toBe('k/0');
          break;
        }
        await expect(it.next()).rejects.toMatchObject({ code: 'iterator_closed' });
        await it.close();
        const busy = sink.entries!();
        const first = busy.next();
        const second = busy.next();
        const third = busy.nextv(2);
        await expect(second).rejects.toMatchObject({ code: 'iterator_busy' });
        await expect(third).rejects.toMatchObject({ code: 'iterator_busy' });
        expect((await first)?.key).toBe('k/0');
        expect((await busy.next())?.key).toBe('k/1');
        await busy.close();
      });

      it('entries: an aborted signal ends the iteration with its reason', async () => {
        const sink = await make();
        await fill(sink, 10);
        const controller = new AbortController();
        const it = sink.entries!({ signal: controller.signal });
        expect((await it.next())?.key).toBe('k/0');
        const reason = new Error('stop');
        controller.abort(reason);
        await expect(it.next()).rejects.toBe(reason);
        await it.close();
        const pre = sink.entries!({ signal: AbortSignal.abort() });
        await expect(pre.next()).rejects.toMatchObject({ name: 'AbortError' });
        await pre.close();
      });

      it('entries: rejects a bad query', async () => {
        const sink = await make();
        await expect(async () => sink.entries!({ limit: -1 }).next()).rejects.toThrow(RangeError);
        await expect(async () => sink.entries!({ order: 'sideways' as 'asc' }).next()).rejects.toThrow(RangeError);
      });
    }

    if (reopen) {
      it('keeps entries across close and reopen', async () => {
        const sink = await make();
        await fill(sink, 5);
        open = open.filter((s) => s !== sink);
        const again = await reopen(sink);
        open.push(again);
        expect((await again.query({})).map((e) => e.key)).toEqual(['k/0', 'k/1', 'k/2', 'k/3', 'k/4']);
      });
    }
  });
}

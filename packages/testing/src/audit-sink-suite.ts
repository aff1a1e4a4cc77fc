import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEntry, AuditSink } from '@sochdb-policy/core';

/** Options of {@link runAuditSinkSuite}; `S` is the sink class the factory makes, which `reopen` sees. */
export interface AuditSinkSuiteOptions<S extends AuditSink = AuditSink> {
  /** A fresh, empty sink for each test. */
  factory: () => S | Promise<S>;
  /** For persistent sinks: closes `sink` and opens it again on the same data. */
  reopen?: (sink: S) => AuditSink | Promise<AuditSink>;
  name?: string;
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
export function runAuditSinkSuite<S extends AuditSink = AuditSink>({ factory, reopen, name = 'AuditSink' }: AuditSinkSuiteOptions<S>): void {
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

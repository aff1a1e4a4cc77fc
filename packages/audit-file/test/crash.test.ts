import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FileAuditSink, queryAuditLog, verifyAuditLog } from '../src/index.js';
import { FIXTURES, requireBuilt, tmpLog } from './helpers.js';

const KILLS = 110;
const WRITERS = 8;
/** Small files so that kills also land in the middle of rotations. */
const MAX_BYTES = 64 * 1024;

interface Cycle {
  /** seq -> key of every entry the child reported as acknowledged. */
  acked: Map<number, string>;
  ready: boolean;
}

/**
 * Starts a writer and SIGKILLs it `delayMs` after it reported ready (appending), or, with
 * `fromSpawn`, `delayMs` after spawn (start-up, open and recovery included).
 */
function runAndKill(path: string, delayMs: number, fromSpawn: boolean): Promise<Cycle> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(FIXTURES, 'crash-writer.mjs'), path, String(WRITERS), String(MAX_BYTES)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const cycle: Cycle = { acked: new Map(), ready: false };
    let buf = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('ready')) {
          cycle.ready = true;
          if (!fromSpawn) timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
        } else {
          const space = line.indexOf(' ');
          cycle.acked.set(Number(line.slice(0, space)), line.slice(space + 1));
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let timer = fromSpawn ? setTimeout(() => child.kill('SIGKILL'), delayMs) : undefined;
    child.on('error', reject);
    // 'close': the process is reaped (its pid no longer holds the lock) and stdout is drained.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`writer exited on its own (code ${code}): ${stderr}`));
      else resolve(cycle);
    });
  });
}

describe('SIGKILL during appends (durability always)', () => {
  beforeAll(() => requireBuilt());

  it(`keeps every acknowledged entry across ${KILLS} kills, and the chain verifies`, { timeout: 180_000 }, async () => {
    const { path } = tmpLog();
    const all = new Map<number, string>();
    let readyKills = 0;
    let recoveredTails = 0;
    let finishedRotations = 0;
    for (let i = 0; i < KILLS; i++) {
      // Mostly while appending; one kill in four at any moment from spawn on (start-up, open, recovery).
      const fromSpawn = Math.random() < 0.25;
      const cycle = await runAndKill(path, Math.floor(Math.random() * (fromSpawn ? 150 : 50)), fromSpawn);
      if (cycle.ready) readyKills++;
      for (const [seq, key] of cycle.acked) all.set(seq, key);

      // Reopen: recovery must succeed (no mid-file corruption), and this run's entries are there.
      const sink = await FileAuditSink.open(path, { maxBytes: MAX_BYTES });
      recoveredTails += sink.recovery.movedAside.length;
      if (sink.recovery.completedRotation) finishedRotations++;
      const seqs = [...cycle.acked.keys()];
      if (seqs.length > 0) {
        const since = Math.min(...seqs);
        expect(sink.lastSeq).toBeGreaterThanOrEqual(Math.max(...seqs));
        const records = await sink.queryRecords({ limit: sink.lastSeq - since + 1 });
        const found = new Map(records.map((r) => [r.seq, r.key]));
        for (const [seq, key] of cycle.acked) expect(found.get(seq), `seq ${seq} after kill ${i}`).toBe(key);
      }
      if (i % 10 === 9) expect((await sink.verify()).problem).toBeUndefined();
      await sink.close();
    }

    const result = await verifyAuditLog(path);
    expect(result.problem).toBeUndefined();
    expect(result.ok).toBe(true);
    const everything = await queryAuditLog(path, { limit: result.lastSeq });
    expect(everything.map((r) => r.seq)).toEqual(Array.from({ length: result.lastSeq }, (_, i) => i + 1));
    const bySeq = new Map(everything.map((r) => [r.seq, r.key]));
    for (const [seq, key] of all) expect(bySeq.get(seq), `seq ${seq}`).toBe(key);
    // The run really exercised what it claims to.
    expect(readyKills).toBeGreaterThan(KILLS / 2);
    expect(all.size).toBeGreaterThan(1000);
    console.log(`crash test: ${KILLS} kills (${readyKills} after open), ${all.size} acknowledged entries, ${result.lastSeq} in the log, ${result.files} files, ${recoveredTails} torn tails moved aside, ${finishedRotations} rotations finished on open`);
  });
});

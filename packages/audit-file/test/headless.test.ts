import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { FileAuditSink, verifyAuditLog } from '../src/index.js';
import { readLines, requireBuilt, runCli, tmpLog, makeLog, openError } from './helpers.js';

/** Files that hold no record; each was reported as "OK: 0 entries, no header". */
const HEADLESS: [string, () => Buffer][] = [
  ['an empty file', () => Buffer.alloc(0)],
  ['50 MiB of "a" without a newline', () => Buffer.alloc(50 * 1024 * 1024, 'a')],
  ['random bytes', () => randomBytes(4096)],
  ['zeros', () => Buffer.alloc(4096)],
  ['a line that is not a header', () => Buffer.from('{"hello":"world"}\n')],
];

beforeAll(() => requireBuilt());

describe('a log without a valid header does not verify', () => {
  for (const [name, bytes] of HEADLESS) {
    it(`${name}: verify() and the CLI fail; open refuses and changes nothing`, { timeout: 60_000 }, async () => {
      const { path } = tmpLog();
      const content = bytes();
      writeFileSync(path, content);
      const r = await verifyAuditLog(path);
      expect(r.ok).toBe(false);
      expect(r.problem?.reason).toMatch(/^(deleted|malformed)$/);
      const cli = await runCli(['verify', path]);
      expect(cli.code).toBe(1);
      expect(cli.stdout).toContain('TAMPERED');
      for (const repair of [false, true]) {
        const error = await openError(path, { repair });
        expect(error.code).toBe('corrupt');
        expect(error.message).toMatch(/new chain/);
      }
      expect(readFileSync(path).equals(content)).toBe(true);
      expect(existsSync(`${path}.corrupt`)).toBe(false);
    });
  }

  it('a log with no file at all does not verify either', async () => {
    const { path } = tmpLog();
    expect(await verifyAuditLog(path)).toMatchObject({ ok: false, files: 0, problem: { reason: 'deleted' } });
  });

  it('an HMAC log of 50 entries overwritten with 100 bytes fails verify(key), and open will not start a new chain over it', async () => {
    const key = 'k-headless';
    const path = await makeLog(50, { hmacKey: key });
    const garbage = randomBytes(100).map((b) => (b === 0x0a ? 0x20 : b));
    writeFileSync(path, garbage);
    expect((await verifyAuditLog(path, { hmacKey: key })).ok).toBe(false);
    for (const repair of [false, true]) expect((await openError(path, { hmacKey: key, repair })).code).toBe('corrupt');
    expect(readFileSync(path).equals(Buffer.from(garbage))).toBe(true);
    expect((await runCli(['verify', path], { SOCHDB_AUDIT_HMAC_KEY: key })).code).toBe(1);
  });

  it('an active file after a rotated one, overwritten with bytes that are not a header: refused, not moved aside in silence', async () => {
    const path = await makeLog(40, { maxBytes: 1024 });
    const before = readFileSync(path);
    writeFileSync(path, 'x'.repeat(300));
    expect((await verifyAuditLog(path)).ok).toBe(false);
    expect((await openError(path, { maxBytes: 1024 })).code).toBe('corrupt');
    expect(readFileSync(path, 'utf8')).toBe('x'.repeat(300));
    // With repair the user asks for it: the bytes go to .corrupt and the chain goes on from the seal.
    const sink = await FileAuditSink.open(path, { maxBytes: 1024, repair: true });
    expect(sink.recovery.movedAside).toHaveLength(1);
    await sink.close();
    expect(before.length).toBeGreaterThan(0);
    expect((await verifyAuditLog(path)).ok).toBe(true);
  });

  it('a header cut short right after a rotation (the one state a crash leaves) still verifies and opens', async () => {
    const path = await makeLog(40, { maxBytes: 1024 });
    // The state just after a rotation: the new active file holds only its header, cut short.
    const header = readLines(path)[0]!;
    const sealSeq = (JSON.parse(header) as { seq: number }).seq;
    writeFileSync(path, header.slice(0, 30));
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, tornTail: { bytes: 30 } });
    const sink = await FileAuditSink.open(path, { maxBytes: 1024 });
    expect(sink.lastSeq).toBe(sealSeq);
    expect(sink.recovery.movedAside).toHaveLength(1);
    await sink.close();
    // But a cut header in the first file of a log is not verified: nothing vouches for the log.
    const { path: fresh } = tmpLog();
    writeFileSync(fresh, header.slice(0, 30));
    expect((await verifyAuditLog(fresh)).ok).toBe(false);
  });

  it('a new log is never visible without its header (written aside, renamed into place)', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    expect(readLines(path)).toHaveLength(1);
    expect(existsSync(`${path}.new`)).toBe(false);
    await sink.close();
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, entries: 0, genesis: true });
  });
});

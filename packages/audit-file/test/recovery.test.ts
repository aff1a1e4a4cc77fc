import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FileAuditSink, verifyAuditLog } from '../src/index.js';
import { entry, readLines, tmpLog, writeLines, makeLog, openError } from './helpers.js';

function corruptRecords(path: string): { offset: number; reason: string; bytes: number; base64: string }[] {
  return readLines(`${path}.corrupt`).map((l) => JSON.parse(l));
}

describe('torn last line (crash mid-append)', () => {
  it('is moved into <path>.corrupt and the chain resumes from the last good entry', async () => {
    const path = await makeLog(10);
    const goodSize = statSync(path).size;
    const torn = '{"seq":11,"timestamp":17000000';
    appendFileSync(path, torn);
    const sink = await FileAuditSink.open(path);
    expect(sink.recovery.movedAside).toEqual([{ file: path, offset: goodSize, bytes: torn.length, reason: 'torn_tail', detail: expect.any(String) }]);
    expect(statSync(path).size).toBe(goodSize);
    expect(sink.lastSeq).toBe(10);
    expect(await sink.write(entry(11))).toBe(11);
    await sink.close();
    const [moved] = corruptRecords(path);
    expect(moved).toMatchObject({ offset: goodSize, reason: 'torn_tail', bytes: torn.length });
    expect(Buffer.from(moved!.base64, 'base64').toString()).toBe(torn);
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, lastSeq: 11 });
  });

  it('a torn header of a brand-new log leaves a fresh genesis header', async () => {
    const { path } = tmpLog();
    writeFileSync(path, '{"type":"hea');
    const sink = await FileAuditSink.open(path);
    expect(sink.recovery.movedAside).toHaveLength(1);
    await sink.append(entry(1));
    await sink.close();
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, genesis: true, lastSeq: 1 });
  });

  it('verify() reports a torn tail without failing, since the next open moves it aside', async () => {
    const path = await makeLog(3);
    appendFileSync(path, '{"seq":4');
    const r = await verifyAuditLog(path);
    expect(r.ok).toBe(true);
    expect(r.tornTail).toMatchObject({ file: path, bytes: 8 });
  });
});

describe('corruption before the last line', () => {
  it('makes open fail with code corrupt, naming the byte offset', async () => {
    const path = await makeLog(10);
    const lines = readLines(path);
    const offset = lines.slice(0, 5).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    lines[5] = lines[5]!.replace('"operation":"', '"operation":"x');
    writeLines(path, lines);
    const error = await openError(path);
    expect(error.code).toBe('corrupt');
    expect(error.offset).toBe(offset);
    expect(error.message).toContain(`byte ${offset}`);
    // Nothing was changed on disk.
    expect(readLines(path)).toEqual(lines);
    expect(existsSync(`${path}.corrupt`)).toBe(false);
  });

  it('a bad last complete line is corruption too, not a torn tail', async () => {
    const path = await makeLog(4);
    const lines = readLines(path);
    lines[4] = lines[4]!.replace('users', 'USERS');
    writeLines(path, lines);
    expect((await openError(path)).code).toBe('corrupt');
  });

  it('with repair: true, is moved aside with everything after it, and the chain resumes', async () => {
    const path = await makeLog(10);
    const lines = readLines(path);
    const offset = lines.slice(0, 5).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    lines[5] = `${lines[5]!.slice(0, 40)}`;
    writeLines(path, lines);
    const movedBytes = lines.slice(5).map((l) => `${l}\n`).join('');
    const sink = await FileAuditSink.open(path, { repair: true });
    expect(sink.recovery.movedAside).toMatchObject([{ offset, reason: 'repair' }]);
    expect(sink.lastSeq).toBe(4);
    expect(await sink.write(entry(5))).toBe(5);
    await sink.close();
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, lastSeq: 5 });
    const moved = corruptRecords(path).map((r) => Buffer.from(r.base64, 'base64').toString()).join('');
    expect(moved).toBe(movedBytes);
  });
});

describe('a crash during rotation is finished on open', () => {
  const opts = { maxBytes: 1024 };

  it('sealed but not yet renamed', async () => {
    const path = await makeLog(30, opts);
    // Put back the state just before the rename: the newest sealed file is still the active one.
    const rotated = Array.from({ length: 50 }, (_, i) => `${path}.${i + 1}`).filter(existsSync);
    const newest = rotated.at(-1)!;
    const sealSeq = (JSON.parse(readLines(newest).at(-1)!) as { type: string; seq: number }).seq;
    rmSync(path);
    renameSync(newest, path);
    const sink = await FileAuditSink.open(path, opts);
    expect(sink.recovery).toMatchObject({ completedRotation: true, createdFile: true });
    expect(existsSync(newest)).toBe(true);
    expect(sink.lastSeq).toBe(sealSeq);
    expect(await sink.write(entry(99))).toBe(sealSeq + 1);
    await sink.close();
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, lastSeq: sealSeq + 1 });
  });

  it('renamed but the new file not yet created (or still empty)', async () => {
    for (const leftover of [undefined, '']) {
      const path = await makeLog(30, opts);
      rmSync(path);
      if (leftover !== undefined) writeFileSync(path, leftover);
      const sink = await FileAuditSink.open(path, opts);
      expect(sink.recovery.createdFile).toBe(true);
      await sink.append(entry(99));
      await sink.close();
      expect((await verifyAuditLog(path)).ok).toBe(true);
    }
  });

  it('a rotated file that lost its seal makes open fail', async () => {
    const path = await makeLog(30, opts);
    const rotated = Array.from({ length: 50 }, (_, i) => `${path}.${i + 1}`).filter(existsSync);
    writeLines(rotated.at(-1)!, readLines(rotated.at(-1)!).slice(0, -1));
    expect((await openError(path, opts)).code).toBe('corrupt');
  });
});

describe('rotation and retention', () => {
  it('keeps at most maxFiles rotated files and the rest still verifies', async () => {
    const path = await makeLog(60, { maxBytes: 1024, maxFiles: 2 });
    const rotated = Array.from({ length: 100 }, (_, i) => `${path}.${i + 1}`).filter(existsSync);
    expect(rotated).toHaveLength(2);
    for (const f of rotated) expect(readLines(f).at(-1)).toContain('"type":"seal"');
    const r = await verifyAuditLog(path);
    expect(r).toMatchObject({ ok: true, genesis: false, lastSeq: 60 });
    expect(r.firstSeq).toBeGreaterThan(1);
  });

  it('never lets a file exceed maxBytes unless a single entry does', async () => {
    const path = await makeLog(50, { maxBytes: 2048 });
    const files = [path, ...Array.from({ length: 100 }, (_, i) => `${path}.${i + 1}`).filter(existsSync)];
    for (const f of files) expect(statSync(f).size).toBeLessThanOrEqual(2048);
  });
});

describe('one writer per log', () => {
  it('a second open in the same process is refused with code locked', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path);
    expect((await openError(path)).code).toBe('locked');
    await sink.close();
    const again = await FileAuditSink.open(path);
    await again.close();
  });

  it('a lock left by a dead process is taken over', async () => {
    const { path } = tmpLog();
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(`${path}.lock`, `${dead.stdout}\n`);
    const sink = await FileAuditSink.open(path);
    expect(readFileSync(`${path}.lock`, 'utf8').trim()).toBe(String(process.pid));
    await sink.close();
    expect(existsSync(`${path}.lock`)).toBe(false);
  });
});

describe('HMAC keys on open', () => {
  it('refuses a protected log without its key, with another key, and a plain log with a key', async () => {
    const protectedLog = await makeLog(3, { hmacKey: 'k1' });
    expect((await openError(protectedLog)).code).toBe('key_required');
    expect((await openError(protectedLog, { hmacKey: 'k2' })).code).toBe('wrong_key');
    const plain = await makeLog(3);
    expect((await openError(plain, { hmacKey: 'k1' })).code).toBe('wrong_key');
    const ok = await FileAuditSink.open(protectedLog, { hmacKey: 'k1' });
    expect(ok.lastSeq).toBe(3);
    await ok.close();
  });
});

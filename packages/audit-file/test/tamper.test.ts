import { readdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditLog, type VerifyReason } from '../src/index.js';
import { entry, hashOf, readLines, rehash, requireBuilt, runCli, tmpLog, writeLines, makeLog } from './helpers.js';

/** verify() and the CLI must agree: first bad seq and reason, exit code 1. */
async function expectTampered(path: string, seq: number, reason: VerifyReason, cliArgs: string[] = [], hmacKey?: string): Promise<void> {
  const result = await verifyAuditLog(path, { hmacKey });
  expect(result.ok).toBe(false);
  expect(result.problem).toMatchObject({ seq, reason });
  const json = await runCli(['verify', '--json', ...cliArgs, path], hmacKey ? { SOCHDB_AUDIT_HMAC_KEY: hmacKey } : {});
  expect(json.code).toBe(1);
  expect(JSON.parse(json.stdout).problem).toMatchObject({ seq, reason });
  const human = await runCli(['verify', ...cliArgs, path], hmacKey ? { SOCHDB_AUDIT_HMAC_KEY: hmacKey } : {});
  expect(human.code).toBe(1);
  expect(human.stdout).toContain(`seq ${seq}: ${reason}`);
}

function tamper(path: string, change: (lines: string[]) => string[]): void {
  writeLines(path, change(readLines(path)));
}

beforeAll(() => requireBuilt());

describe('an intact log', () => {
  it('verifies with verify() and the CLI (exit 0)', async () => {
    const path = await makeLog(20);
    const r = await verifyAuditLog(path);
    expect(r).toMatchObject({ ok: true, entries: 20, firstSeq: 1, lastSeq: 20, genesis: true, alg: 'sha256', files: 1 });
    expect(r.lastHash).toBe(hashOf(readLines(path)[20]!));
    const cli = await runCli(['verify', path]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('OK');
    expect(cli.stdout).toContain('20 entries verified');
  });

  it('verifies across rotated files', async () => {
    const path = await makeLog(40, { maxBytes: 1024 });
    const r = await verifyAuditLog(path);
    expect(r.ok).toBe(true);
    expect(r.entries).toBe(40);
    expect(r.files).toBeGreaterThan(5);
    expect((await runCli(['verify', path])).code).toBe(0);
  });
});

describe('tampering is detected by verify() and the CLI', () => {
  it('edited: a field changed, hash left alone', async () => {
    const path = await makeLog(20);
    tamper(path, (l) => l.map((line, i) => (i === 7 ? line.replace('"result":"allowed"', '"result":"denied"') : line)));
    await expectTampered(path, 7, 'edited');
  });

  it('edited: a field changed and its own hash recomputed (the next entry still links to the old hash)', async () => {
    const path = await makeLog(20);
    tamper(path, (l) => l.map((line, i) => (i === 7 ? rehash(line.replace('users/u7/doc', 'users/u7/other')) : line)));
    await expectTampered(path, 7, 'edited');
  });

  it('deleted: one entry removed', async () => {
    const path = await makeLog(20);
    tamper(path, (l) => l.filter((_, i) => i !== 7));
    await expectTampered(path, 7, 'deleted');
  });

  it('deleted: several entries removed', async () => {
    const path = await makeLog(20);
    tamper(path, (l) => l.filter((_, i) => i < 5 || i > 9));
    await expectTampered(path, 5, 'deleted');
  });

  it('deleted: the first entry removed', async () => {
    const path = await makeLog(20);
    tamper(path, (l) => l.filter((_, i) => i !== 1));
    await expectTampered(path, 1, 'deleted');
  });

  it('reordered: two adjacent entries swapped', async () => {
    const path = await makeLog(20);
    tamper(path, (l) => [...l.slice(0, 7), l[8]!, l[7]!, ...l.slice(9)]);
    await expectTampered(path, 7, 'reordered');
  });

  it('reordered: an entry moved earlier', async () => {
    const path = await makeLog(20);
    tamper(path, (l) => [...l.slice(0, 7), l[12]!, ...l.slice(7, 12), ...l.slice(13)]);
    await expectTampered(path, 7, 'reordered');
  });

  it('inserted: a copy of an earlier entry', async () => {
    const path = await makeLog(20);
    tamper(path, (l) => [...l.slice(0, 8), l[3]!, ...l.slice(8)]);
    await expectTampered(path, 8, 'inserted');
  });

  it('inserted: a forged entry with a correct hash and link, claiming the next seq', async () => {
    const path = await makeLog(20);
    tamper(path, (l) => {
      const forged = rehash(l[8]!.replace('users/u8/doc', 'users/forged').replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${hashOf(l[7]!)}"`));
      return [...l.slice(0, 8), forged, ...l.slice(8)];
    });
    await expectTampered(path, 8, 'inserted');
  });

  it('inserted: a line that is not a record', async () => {
    const path = await makeLog(20);
    tamper(path, (l) => [...l.slice(0, 8), '{"note":"hello"}', ...l.slice(8)]);
    await expectTampered(path, 8, 'inserted');
  });

  it('truncated in the middle: an entry cut short, later entries intact', async () => {
    const path = await makeLog(20);
    tamper(path, (l) => l.map((line, i) => (i === 7 ? line.slice(0, Math.floor(line.length / 2)) : line)));
    await expectTampered(path, 7, 'truncated');
  });

  it('a rotated file deleted from the middle of the log', async () => {
    const path = await makeLog(40, { maxBytes: 1024 });
    const rotated = readdirSync(dirname(path)).filter((n) => /\.log\.\d+$/.test(n));
    expect(rotated.length).toBeGreaterThan(3);
    const victim = `${path}.2`;
    const firstGone = (JSON.parse(readLines(victim)[1]!) as { seq: number }).seq;
    rmSync(victim);
    await expectTampered(path, firstGone, 'deleted');
  });

  it('a sealed file cut at a line boundary (its seal and last entry gone)', async () => {
    const path = await makeLog(40, { maxBytes: 1024 });
    const lines = readLines(`${path}.2`);
    const lastEntry = (JSON.parse(lines.at(-2)!) as { seq: number }).seq;
    writeLines(`${path}.2`, lines.slice(0, -2));
    await expectTampered(path, lastEntry, 'deleted');
  });

  it('entries cut off the end are caught with an anchor kept from an earlier verify', async () => {
    const path = await makeLog(20);
    const before = await verifyAuditLog(path);
    tamper(path, (l) => l.slice(0, -3));
    expect((await verifyAuditLog(path)).ok).toBe(true); // a chain alone cannot tell
    const anchor = `${before.lastSeq}:${before.lastHash}`;
    const r = await verifyAuditLog(path, { anchor: { seq: before.lastSeq, hash: before.lastHash } });
    expect(r.problem).toMatchObject({ seq: 18, reason: 'truncated' });
    const cli = await runCli(['verify', '--anchor', anchor, path]);
    expect(cli.code).toBe(1);
  });
});

describe('HMAC', () => {
  const key = 'tamper-test-key';

  it('without a key, a rewrite of the tail with recomputed hashes passes (the threat HMAC answers)', async () => {
    const path = await makeLog(20);
    tamper(path, (l) => forgeFrom(l, 5));
    expect((await verifyAuditLog(path)).ok).toBe(true);
  });

  it('with a key, the same rewrite is caught at the first forged entry', async () => {
    const path = await makeLog(20, { hmacKey: key });
    expect((await verifyAuditLog(path, { hmacKey: key })).ok).toBe(true);
    tamper(path, (l) => forgeFrom(l, 5));
    await expectTampered(path, 5, 'edited', [], key);
  });

  it('the CLI takes the key from a file and refuses to verify without it (exit 2)', async () => {
    const path = await makeLog(5, { hmacKey: key });
    const { path: keyFile } = tmpLog('key.txt');
    writeLines(keyFile, [key]);
    expect((await runCli(['verify', '--hmac-key-file', keyFile, path])).code).toBe(0);
    const without = await runCli(['verify', path]);
    expect(without.code).toBe(2);
    expect(without.stdout).toContain('key_required');
    // A wrong key is not tampering: it has its own exit code (issue 10 item 9).
    const wrong = await runCli(['verify', path], { SOCHDB_AUDIT_HMAC_KEY: 'not-the-key' });
    expect(wrong.code).toBe(3);
    expect(wrong.stdout).toContain('wrong_key');
    expect(wrong.stdout).not.toContain('TAMPERED');
  });
});

/** Rewrites entries from `seq` on with a new key value and recomputed SHA-256 hashes and links. */
function forgeFrom(lines: string[], seq: number): string[] {
  const out = lines.slice(0, seq);
  let prev = hashOf(out.at(-1)!);
  for (const line of lines.slice(seq)) {
    const forged = rehash(line.replace(/"key":"[^"]*"/, '"key":"forged"').replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${prev}"`));
    prev = hashOf(forged);
    out.push(forged);
  }
  return out;
}

import { existsSync, rmSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { FileAuditSink, verifyAuditLog } from '../src/index.js';
import { entry, requireBuilt, runCli, tmpLog } from './helpers.js';

beforeAll(() => requireBuilt());

describe('an anchor vouches for its own entry, which must still be in the log', () => {
  it('fails when the anchored entry was rotated away (its file deleted), with verify() and the CLI', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path, { maxBytes: 1024 });
    for (let i = 1; i <= 60; i++) await sink.append(entry(i));
    const [anchored] = await sink.queryRecords({ limit: 60 });
    expect(anchored!.seq).toBe(1);
    await sink.close();
    const anchor = { seq: anchored!.seq, hash: anchored!.hash };
    expect(await verifyAuditLog(path, { anchor })).toMatchObject({ ok: true });

    expect(existsSync(`${path}.1`)).toBe(true);
    rmSync(`${path}.1`);
    const r = await verifyAuditLog(path, { anchor });
    expect(r.ok).toBe(false);
    expect(r.problem).toMatchObject({ seq: 1, reason: 'deleted' });
    expect(r.problem!.message).toContain('anchor');
    const cli = await runCli(['verify', '--anchor', `${anchor.seq}:${anchor.hash}`, path]);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain('seq 1: deleted');
  });

  it('fails when retention (maxFiles) removed it, and passes for an anchor still in the log', async () => {
    const { path } = tmpLog();
    const sink = await FileAuditSink.open(path, { maxBytes: 1024, maxFiles: 1 });
    for (let i = 1; i <= 10; i++) await sink.append(entry(i));
    const early = (await sink.queryRecords({ limit: 1 }))[0]!;
    for (let i = 11; i <= 60; i++) await sink.append(entry(i));
    const late = (await sink.queryRecords({ limit: 1 }))[0]!;
    expect((await sink.verify({ anchor: { seq: early.seq, hash: early.hash } })).problem).toMatchObject({ seq: early.seq, reason: 'deleted' });
    expect(await sink.verify({ anchor: { seq: late.seq, hash: late.hash } })).toMatchObject({ ok: true, genesis: false });
    await sink.close();
  });
});

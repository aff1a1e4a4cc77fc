import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { PolicyEngine } from '../engine.js';
import { MemoryStore } from '../memory/memory-store.js';
import { PolicyDocumentError } from './document.js';
import { watchPolicyFile, type PolicyWatcher } from './watch.js';

// Issue 13, reloading: a watched document swaps in atomically when valid; a half-written or
// invalid file keeps the last good set and reports why.

const root = mkdtempSync(join(tmpdir(), 'sochdb-watch-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A document denying writes under `prefix/*`. */
const doc = (prefix: string) => `version: 1
rules:
  - id: deny-${prefix}
    trigger: before_write
    pattern: ${prefix}/*
    effect: deny
`;

async function setup(initial: string) {
  const file = join(root, `policy-${++n}.yaml`);
  writeFileSync(file, initial);
  const policy = new PolicyEngine(new MemoryStore());
  const errors: unknown[] = [];
  const watcher = await watchPolicyFile(policy, file, { debounceMs: 20, onError: (e) => errors.push(e) });
  const denies = async (key: string) =>
    policy.put(key, 'v').then(
      () => false,
      (e: { code?: string }) => e.code === 'denied',
    );
  return { file, policy, watcher, errors, denies };
}

const closeAll: PolicyWatcher[] = [];
afterAll(() => closeAll.forEach((w) => w.close()));

describe('watchPolicyFile (issue 13, reloading)', () => {
  it('loads the file, then swaps in each valid change', async () => {
    const { file, watcher, denies } = await setup(doc('a'));
    closeAll.push(watcher);
    expect(await denies('a/1')).toBe(true);
    expect(await denies('b/1')).toBe(false);
    writeFileSync(file, doc('b'));
    await vi.waitFor(async () => expect(await denies('b/1')).toBe(true), { timeout: 5000 });
    expect(await denies('a/1')).toBe(false);
    expect(watcher.reloads).toBe(1);
    expect(watcher.lastReloadError).toBeUndefined();
  });

  it('a burst of edits ends with the last one in force, in fewer reloads than edits', async () => {
    const { file, watcher, denies } = await setup(doc('p0'));
    closeAll.push(watcher);
    for (let i = 1; i <= 30; i++) writeFileSync(file, doc(`p${i}`));
    await vi.waitFor(async () => expect(await denies('p30/x')).toBe(true), { timeout: 5000 });
    expect(await denies('p29/x')).toBe(false);
    expect(watcher.reloads).toBeLessThan(30);
  });

  it('a half-written file keeps the last good rules and reports the error until the write completes', async () => {
    const { file, watcher, errors, denies } = await setup(doc('good'));
    closeAll.push(watcher);
    const full = doc('next');
    writeFileSync(file, full.slice(0, full.indexOf('pattern')) + 'pattern: "next/');
    await vi.waitFor(() => expect(watcher.lastReloadError).toBeInstanceOf(PolicyDocumentError), { timeout: 5000 });
    expect(errors.length).toBeGreaterThan(0);
    expect(await denies('good/1')).toBe(true);
    writeFileSync(file, full);
    await vi.waitFor(async () => expect(await denies('next/1')).toBe(true), { timeout: 5000 });
    expect(watcher.lastReloadError).toBeUndefined();
    expect(await denies('good/1')).toBe(false);
  });

  it('an invalid document (schema, pattern, CEL) keeps the last good rules', async () => {
    const { file, watcher, denies } = await setup(doc('keep'));
    closeAll.push(watcher);
    for (const bad of [doc('x').replace('effect: deny', 'effect: maybe'), doc('x').replace('pattern: x/*', 'pattern: ""'), `${doc('x')}    condition: "context.agent_id =="\n`]) {
      writeFileSync(file, bad);
      await expect(watcher.reload()).resolves.toBe(false);
      expect(watcher.lastReloadError).toBeInstanceOf(PolicyDocumentError);
      expect(await denies('keep/1')).toBe(true);
      expect(await denies('x/1')).toBe(false);
    }
  });

  it('sees a file replaced by rename, as deploy tools do', async () => {
    const { file, watcher, denies } = await setup(doc('old'));
    closeAll.push(watcher);
    const temp = `${file}.tmp`;
    writeFileSync(temp, doc('new'));
    renameSync(temp, file);
    await vi.waitFor(async () => expect(await denies('new/1')).toBe(true), { timeout: 5000 });
  });

  it('refuses a first file that is invalid, and stops watching on close', async () => {
    const file = join(root, 'bad-first.yaml');
    writeFileSync(file, 'version: 1\nrules: [ { id: x } ]\n');
    await expect(watchPolicyFile(new PolicyEngine(new MemoryStore()), file)).rejects.toBeInstanceOf(PolicyDocumentError);
    const { file: f2, watcher, denies } = await setup(doc('c'));
    watcher.close();
    writeFileSync(f2, doc('d'));
    await new Promise((r) => setTimeout(r, 200));
    expect(await denies('c/1')).toBe(true);
    expect(await denies('d/1')).toBe(false);
    await expect(watchPolicyFile(new PolicyEngine(new MemoryStore()), f2, { debounceMs: -1 })).rejects.toThrow(/options\.debounceMs must be an integer from 0 to 60000, got number -1/);
  });
});

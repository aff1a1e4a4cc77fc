import { describe, expect, it } from 'vitest';
import { copyKeys, keyLength, keyText, keyTextOf, keyTexts, ownKey, toKey } from './bytes.js';
import { MemoryStore } from './memory/memory-store.js';
import { PolicyAction } from './actions.js';
import { PolicyEngine } from './engine.js';

describe('keyTextOf (string keys are not decoded twice)', () => {
  it('returns a well-formed string key as it is', () => {
    const key = 'users/ålice/😀';
    expect(keyTextOf(toKey(key), key)).toBe(key);
  });

  it('decodes a string with a lone surrogate like its UTF-8 bytes (P7)', () => {
    const key = 'system/\ud800x';
    expect(keyTextOf(toKey(key), key)).toBe('system/\ufffdx');
    expect(keyTextOf(toKey(key), key)).toBe(keyText(toKey(key)));
  });

  it('a rule sees and audits the same text whether the key came as a string or as bytes', async () => {
    const policy = new PolicyEngine(new MemoryStore()).enableAudit();
    const seen: string[] = [];
    policy.beforeWrite('system/*', (ctx) => {
      seen.push(ctx.keyText);
      return PolicyAction.DENY;
    });
    await expect(policy.put('system/\ud800', 'v')).rejects.toMatchObject({ code: 'denied' });
    await expect(policy.put(Buffer.from('system/\ud800'), 'v')).rejects.toMatchObject({ code: 'denied' });
    expect(seen).toEqual(['system/\ufffd', 'system/\ufffd']);
    expect((await policy.getAuditLog()).map((e) => e.key)).toEqual(['system/\ufffd', 'system/\ufffd']);
  });
});

/** A Uint8Array whose class reports a length other than its bytes'. */
function lyingBytes(bytes: number[], claimed: number): Uint8Array {
  class Lying extends Uint8Array {
    override get byteLength(): number {
      return claimed;
    }
    override get length(): number {
      return claimed;
    }
  }
  return new Lying(bytes);
}

describe('caller bytes whose class lies about their length', () => {
  it('a value claiming more bytes than it has stores exactly its bytes, not uninitialized memory', async () => {
    const store = new MemoryStore();
    const policy = new PolicyEngine(store);
    await policy.put('k', lyingBytes([1, 2, 3, 4], 64));
    expect(await store.get(Buffer.from('k'))).toEqual(Buffer.from([1, 2, 3, 4]));
    await policy.batch([{ type: 'put', key: 'b', value: lyingBytes([5, 6], 4096) }]);
    expect(await store.get(Buffer.from('b'))).toEqual(Buffer.from([5, 6]));
  });

  it('a key claiming fewer bytes than it has is measured by its bytes against maxKeyBytes', async () => {
    const store = new MemoryStore();
    const policy = new PolicyEngine(store, { maxKeyBytes: 16 });
    const long = lyingBytes(Array.from({ length: 32 }, () => 0x61), 4);
    await expect(policy.put(long, 'v')).rejects.toThrow(/key is 32 bytes long; this engine accepts keys of 1 to 16 bytes/);
    await expect(policy.batch([{ type: 'put', key: long, value: 'v' }])).rejects.toThrow(/operations\[0\]\.key is 32 bytes long/);
    expect(store.size).toBe(0);
  });

  it('an object that only inherits from Uint8Array.prototype is not bytes', async () => {
    const store = new MemoryStore();
    const policy = new PolicyEngine(store);
    const fake = Object.create(Uint8Array.prototype) as Uint8Array;
    await expect(policy.put(fake, 'v')).rejects.toThrow(/key must be a Buffer, Uint8Array or string, got an object/);
    await expect(policy.put('k', fake)).rejects.toThrow(/value must be a Buffer, Uint8Array or string, got an object/);
    expect(store.size).toBe(0);
  });
});

describe('keyLength and copyKeys (the keys of a batch, copied together)', () => {
  const copyAll = (inputs: (string | Uint8Array)[], maxBytes = 64) =>
    copyKeys(
      inputs,
      inputs.map((k, i) => keyLength(k, maxBytes, () => `keys[${i}]`)),
    );

  it('copies and decodes every key exactly as ownKey and keyTextOf do one key, ASCII or not', () => {
    const view = new Uint8Array(16).fill(0x21).subarray(3, 9);
    const cases: (string | Uint8Array)[][] = [
      ['users/a', Buffer.from('users/b'), view],
      ['users/ålice', Buffer.from('users/😀'), 'x'],
      [Buffer.from([0x75, 0xff, 0x2f, 0xc3]), 'system/\ud800x', Buffer.from('a')],
      ['only/ascii/keys', 'another/one'],
    ];
    for (const inputs of cases) {
      const { keys, texts } = copyAll(inputs);
      inputs.forEach((input, i) => {
        const own = ownKey(input, 64);
        expect(keys[i]).toEqual(own);
        expect(texts[i]).toBe(keyTextOf(own, input));
      });
    }
  });

  it("the copies are private: changing the caller's bytes afterwards changes neither copy nor text", () => {
    const a = Buffer.from('users/a');
    const b = new Uint8Array(Buffer.from('users/b'));
    const { keys, texts } = copyAll([a, b]);
    a.fill(0x78);
    b.fill(0x79);
    expect(keys.map((k) => k.toString())).toEqual(['users/a', 'users/b']);
    expect(texts).toEqual(['users/a', 'users/b']);
  });

  it("measures bytes by the typed array's own length and names the key that fails", () => {
    expect(keyLength(lyingBytes([1, 2, 3], 64), 64, () => 'k')).toBe(3);
    expect(() => keyLength(lyingBytes(Array.from({ length: 32 }, () => 0x61), 4), 16, () => 'operations[3].key')).toThrow(
      /operations\[3\]\.key is 32 bytes long; this engine accepts keys of 1 to 16 bytes/,
    );
    expect(() => keyLength('', 16, () => 'operations[0].key')).toThrow(/operations\[0\]\.key must not be empty/);
    expect(() => keyLength(42, 16, () => 'operations[1].key')).toThrow(/operations\[1\]\.key must be a Buffer, Uint8Array or string, got number 42/);
    expect(() => keyLength(Object.create(Uint8Array.prototype), 16, () => 'k')).toThrow(/k must be a Buffer, Uint8Array or string, got an object/);
  });

  it('a batch reports the first bad operation in order, whether its key or its value is bad, and stores nothing', async () => {
    const store = new MemoryStore();
    const policy = new PolicyEngine(store, { maxKeyBytes: 8 });
    await expect(
      policy.batch([
        { type: 'put', key: 'ok', value: 'v' },
        { type: 'put', key: 'ok2', value: 42 as unknown as string },
        { type: 'put', key: 'much/too/long', value: 'v' },
      ]),
    ).rejects.toThrow(/operations\[1\]\.value must be a Buffer/);
    await expect(
      policy.batch([
        { type: 'put', key: 'much/too/long', value: 42 as unknown as string },
        { type: 'put', key: 'ok', value: 'v' },
      ]),
    ).rejects.toThrow(/operations\[0\]\.key is 13 bytes long/);
    expect(store.size).toBe(0);
  });
});

describe('keyTexts (a chunk of stored keys, decoded together)', () => {
  it('gives each key the text keyText gives it, whether the chunk is all ASCII or not', () => {
    const chunks: Uint8Array[][] = [
      [Buffer.from('users/0001/profile'), Buffer.from('users/0002/profile'), Buffer.from('a')],
      [Buffer.from('users/ålice'), Buffer.from('users/bob')],
      [Buffer.from([0x75, 0x2f, 0xff]), Buffer.from('x/y'), new Uint8Array([0x7a, 0xc3])],
      [new Uint8Array(Buffer.from('view/one')).subarray(5), Buffer.from('plain')],
      [],
    ];
    for (const keys of chunks) expect(keyTexts(keys)).toEqual(keys.map((k) => keyText(k)));
  });

  it('policy.scan matches and audits non-ASCII keys by their text', async () => {
    const store = new MemoryStore();
    for (const k of ['docs/ålice', 'docs/bob', 'docs/😀', 'docs/carol']) await store.put(Buffer.from(k), Buffer.from('v'));
    const policy = new PolicyEngine(store).enableAudit();
    policy.beforeRead('docs/b*', () => PolicyAction.DENY);
    const keys: string[] = [];
    for await (const { key } of policy.scan({ prefix: 'docs/' })) keys.push(key.toString());
    expect(keys).toEqual(['docs/carol', 'docs/ålice', 'docs/😀']);
    expect((await policy.getAuditLog()).map((e) => `${e.key}:${e.result}`)).toEqual(['docs/bob:denied', 'docs/carol:allowed', 'docs/ålice:allowed', 'docs/😀:allowed']);
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { Deadlines } from './deadlines.js';

describe('Deadlines', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('times out exactly the calls not settled in time, each once, with one timer', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const deadlines = new Deadlines(100);
    const timedOut: string[] = [];
    const a = deadlines.add(() => timedOut.push('a'));
    vi.advanceTimersByTime(40);
    const b = deadlines.add(() => timedOut.push('b'));
    const c = deadlines.add(() => timedOut.push('c'));
    expect(vi.getTimerCount()).toBe(1);
    expect(b.open).toBe(true);
    expect(b.settle()).toBe(true);
    expect(b.open).toBe(false);
    vi.advanceTimersByTime(60); // a's deadline
    expect(timedOut).toEqual(['a']);
    expect(a.open).toBe(false);
    expect(c.open).toBe(true);
    expect(a.settle()).toBe(false); // its answer came too late
    vi.advanceTimersByTime(40); // c's deadline
    expect(timedOut).toEqual(['a', 'c']);
    expect(b.settle()).toBe(false); // settled once only
    expect(deadlines.size).toBe(0);
    vi.advanceTimersByTime(1_000);
    expect(timedOut).toEqual(['a', 'c']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps only the calls in flight when answers come in order', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const deadlines = new Deadlines(1_000);
    const open = [];
    for (let i = 0; i < 10_000; i++) {
      open.push(deadlines.add(() => {}));
      if (open.length > 64) expect(open.shift()!.settle()).toBe(true);
    }
    expect(deadlines.size).toBe(64);
    for (const p of open) p.settle();
    expect(deadlines.size).toBe(0);
  });
});

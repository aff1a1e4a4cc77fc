import { describe, expect, it } from 'vitest';
import { TickBatch, type BatchDone } from './tick-batch.js';

function recorder(leading: boolean) {
  const runs: number[][] = [];
  const batch = new TickBatch<number, number>(
    (items: number[], done: BatchDone<number>) => {
      runs.push([...items]);
      done(null, items.map((i) => i * 10));
    },
    { leading },
  );
  return { runs, batch };
}

describe('TickBatch', () => {
  it('batches the items of one tick, in order, answering each with its own result', async () => {
    const { runs, batch } = recorder(false);
    expect(await Promise.all([1, 2, 3].map((i) => batch.add(i)))).toEqual([10, 20, 30]);
    expect(runs).toEqual([[1, 2, 3]]);
  });

  it('leading: the first item of a tick runs at once and alone, the rest of the tick together after it', async () => {
    const { runs, batch } = recorder(true);
    const first = batch.add(1);
    // Already run: nothing waits for the tick.
    expect(runs).toEqual([[1]]);
    const rest = [2, 3, 4].map((i) => batch.add(i));
    expect(await Promise.all([first, ...rest])).toEqual([10, 20, 30, 40]);
    expect(runs).toEqual([[1], [2, 3, 4]]);
    // A new tick: a lone item runs at once again.
    await new Promise((resolve) => setImmediate(resolve));
    expect(await batch.add(5)).toBe(50);
    expect(runs).toEqual([[1], [2, 3, 4], [5]]);
  });

  it("leading 'idle': an item runs at once while no run is out; while one is, the tick's items run together", async () => {
    const runs: number[][] = [];
    const pending: BatchDone<number>[] = [];
    const batch = new TickBatch<number, number>(
      (items, done) => {
        runs.push([...items]);
        pending.push((error, results) => done(error, results));
      },
      { leading: 'idle' },
    );
    const first = batch.add(1);
    expect(runs).toEqual([[1]]);
    // The first run is out: these wait for the tick and run together, not one by one.
    const more = [batch.add(2), batch.add(3)];
    expect(runs).toEqual([[1]]);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(runs).toEqual([[1], [2, 3]]);
    pending[0]!(null, [10]);
    expect(await first).toBe(10);
    // Still one run out ([2, 3]): the next item waits for its tick.
    const fourth = batch.add(4);
    expect(runs).toHaveLength(2);
    pending[1]!(null, [20, 30]);
    expect(await Promise.all(more)).toEqual([20, 30]);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(runs).toEqual([[1], [2, 3], [4]]);
    pending[2]!(new Error('read failed'));
    await expect(fourth).rejects.toThrow('read failed');
    // Nothing out: a lone item runs at once again, and a run that throws is not counted as out.
    const thrown = new TickBatch<number, number>(() => {
      throw new Error('sync throw');
    }, { leading: 'idle' });
    await expect(thrown.add(1)).rejects.toThrow('sync throw');
    await expect(thrown.add(2)).rejects.toThrow('sync throw');
    batch.add(5);
    expect(runs).toEqual([[1], [2, 3], [4], [5]]);
  });

  it("leading 'idle': after a run of several items the next waits for its tick (they keep coming together), after a lone one it leads again", async () => {
    // Runs answer later, as reads on the thread pool do.
    const runs: number[][] = [];
    const batch = new TickBatch<number, number>(
      (items, done) => {
        runs.push([...items]);
        setImmediate(() => done(null, items.map((i) => i * 10)));
      },
      { leading: 'idle' },
    );
    await batch.add(1);
    expect(await Promise.all([batch.add(2), batch.add(3), batch.add(4)])).toEqual([20, 30, 40]);
    // [2] led; [3, 4] waited for the tick together.
    expect(runs).toEqual([[1], [2], [3, 4]]);
    // Nothing is out, but the last run was of two: this one waits for the tick, with its company.
    const five = [batch.add(5), batch.add(6)];
    expect(runs).toHaveLength(3);
    expect(await Promise.all(five)).toEqual([50, 60]);
    expect(runs.at(-1)).toEqual([5, 6]);
    // A lone item, then lone items lead again.
    expect(await batch.add(7)).toBe(70);
    expect(runs.at(-1)).toEqual([7]);
    const eight = batch.add(8);
    expect(runs.at(-1)).toEqual([8]);
    await eight;
  });

  it('runPending runs what waits for the tick now, once; the flush then finds nothing', async () => {
    const { runs, batch } = recorder(true);
    const first = batch.add(1);
    const rest = [batch.add(2), batch.add(3)];
    expect(runs).toEqual([[1]]);
    batch.runPending();
    expect(runs).toEqual([[1], [2, 3]]);
    batch.runPending();
    expect(await Promise.all([first, ...rest])).toEqual([10, 20, 30]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(runs).toEqual([[1], [2, 3]]);
  });

  it('an error answers every caller of its run, and only those', async () => {
    const batch = new TickBatch<number, number>((items, done) => (items.includes(3) ? done(new Error('bad item')) : done(null, items)), { leading: true });
    const results = await Promise.allSettled([1, 2, 3].map((i) => batch.add(i)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    const thrown = new TickBatch<number, number>(() => {
      throw new Error('sync throw');
    }, { leading: true });
    await expect(thrown.add(1)).rejects.toThrow('sync throw');
  });

  it('flush() runs what is pending and resolves once its callers are answered', async () => {
    const { runs, batch } = recorder(false);
    const pending = [batch.add(1), batch.add(2)];
    await batch.flush();
    expect(runs).toEqual([[1, 2]]);
    expect(await Promise.all(pending)).toEqual([10, 20]);
    await batch.flush();
    expect(runs).toHaveLength(1);
  });
});

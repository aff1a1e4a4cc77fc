/**
 * Values filed under literal texts (fragments), found by the fragments a key contains anywhere:
 * the hook index's home for patterns whose only literal text is in their middle, such as
 * `users/*42*` or `*\/x42/**`.
 *
 * While there are few fragments, a lookup tests each with a native `includes`. Past that, an
 * Aho–Corasick automaton over all of them (built when a lookup first needs it) reads the key
 * once, whatever the number of fragments: O(key length + fragments found). Fragments filed
 * after a build are tested with `includes` until there are enough of them to rebuild, so that
 * registering patterns between lookups never costs a rebuild per pattern.
 */
export class FragmentIndex<V> {
  /** Values per fragment, in the order filed. */
  readonly #slots = new Map<string, V[]>();
  /** Fragments not in the automaton (all of them while there are few), with their values. */
  #loose: { text: string; values: V[] }[] = [];
  #automaton: Automaton<V> | undefined;

  /** How many values are filed under exactly `text`. */
  count(text: string): number {
    return this.#slots.get(text)?.length ?? 0;
  }

  /** Files `value` under the non-empty `text`. */
  add(text: string, value: V): void {
    const values = this.#slots.get(text);
    if (values !== undefined) {
      values.push(value);
      return;
    }
    const created = [value];
    this.#slots.set(text, created);
    this.#loose.push({ text, values: created });
  }

  /** Calls `visit(values, key)` once for every filed fragment that `key` contains. */
  visit(key: string, visit: (values: readonly V[], key: string) => void): void {
    if (this.#loose.length > LOOSE_MAX) this.#build();
    this.#automaton?.visit(key, visit);
    const loose = this.#loose;
    for (let i = 0; i < loose.length; i++) {
      const slot = loose[i]!;
      if (key.includes(slot.text)) visit(slot.values, key);
    }
  }

  #build(): void {
    this.#automaton = new Automaton(this.#slots);
    this.#loose = [];
  }
}

/** Fragments tested one by one with `includes` up to this many; past it, the automaton. */
const LOOSE_MAX = 16;

/** The Aho–Corasick automaton over a set of fragments (UTF-16 code units). */
class Automaton<V> {
  /** Per state: its transitions, by code unit. */
  readonly #next: Map<number, number>[] = [new Map()];
  /** The root's transitions for ASCII, looked up directly (0: none, or the root itself). */
  readonly #rootAscii = new Int32Array(128);
  /** Per state: the state of its longest proper suffix that is a prefix of some fragment. */
  readonly #fail: number[] = [0];
  /** Per state: the nearest state along the fail links (itself included) that ends a fragment, or -1. */
  readonly #report: number[] = [];
  /** Per state that ends a fragment: its values. */
  readonly #values: (readonly V[] | undefined)[] = [undefined];
  /** Per state: the lookup in which it was last reported (each fragment reported once per key). */
  #seen = new Uint32Array(1);
  #lookup = 0;

  constructor(slots: ReadonlyMap<string, readonly V[]>) {
    const next = this.#next;
    for (const [text, values] of slots) {
      let s = 0;
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        let t = next[s]!.get(c);
        if (t === undefined) {
          t = next.length;
          next.push(new Map());
          this.#fail.push(0);
          this.#values.push(undefined);
          next[s]!.set(c, t);
        }
        s = t;
      }
      this.#values[s] = values;
    }
    // Breadth first: a state's fail link is known before its children's.
    const report = this.#report;
    report.length = next.length;
    report[0] = -1;
    const queue: number[] = [];
    for (const t of next[0]!.values()) {
      this.#fail[t] = 0;
      queue.push(t);
    }
    for (let q = 0; q < queue.length; q++) {
      const s = queue[q]!;
      const f = this.#fail[s]!;
      report[s] = this.#values[s] !== undefined ? s : report[f]!;
      for (const [c, t] of next[s]!) {
        let g = f;
        let to = next[g]!.get(c);
        while (to === undefined && g !== 0) {
          g = this.#fail[g]!;
          to = next[g]!.get(c);
        }
        this.#fail[t] = to !== undefined && to !== t ? to : 0;
        queue.push(t);
      }
    }
    for (const [c, t] of next[0]!) if (c < 128) this.#rootAscii[c] = t;
    this.#seen = new Uint32Array(next.length);
  }

  visit(key: string, visit: (values: readonly V[], key: string) => void): void {
    const next = this.#next;
    const fail = this.#fail;
    const report = this.#report;
    const seen = this.#seen;
    const lookup = (this.#lookup = (this.#lookup + 1) >>> 0 || (seen.fill(0), 1));
    let s = 0;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      let t: number | undefined;
      for (;;) {
        t = s === 0 && c < 128 ? this.#rootAscii[c] : next[s]!.get(c);
        if (t !== undefined || s === 0) break;
        s = fail[s]!;
      }
      s = t ?? 0;
      // Report the fragments ending here, longest first; a state already reported in this
      // lookup has had its whole chain reported, so the walk stops there.
      for (let r = report[s]!; r !== -1 && seen[r] !== lookup; r = report[fail[r]!]!) {
        seen[r] = lookup;
        visit(this.#values[r]!, key);
      }
    }
  }
}

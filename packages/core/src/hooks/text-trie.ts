/** One node of a {@link TextTrie}: the run of characters on the edge into it, and what is filed there. */
class Edge<V> {
  label: string;
  readonly next = new Map<number, Edge<V>>();
  readonly values: V[] = [];

  constructor(label: string) {
    this.label = label;
  }
}

/**
 * A compressed trie of literal text, for the hook index: values filed under the text a key
 * must begin with at some position (`forwards`) or end with (`backwards`). A run of
 * characters without a branch sits on one edge and is compared with one `startsWith`, so a
 * lookup costs a map lookup per branch point, not per character.
 */
export class TextTrie<V> {
  readonly #root = new Edge<V>('');
  readonly #backwards: boolean;

  constructor(direction: 'forwards' | 'backwards') {
    this.#backwards = direction === 'backwards';
  }

  /** Files `value` under the non-empty `text`. */
  add(text: string, value: V): void {
    let node = this.#root;
    let done = 0; // characters of `text` consumed, from its start (forwards) or end (backwards)
    while (done < text.length) {
      const c = text.charCodeAt(this.#backwards ? text.length - 1 - done : done);
      const child = node.next.get(c);
      if (child === undefined) {
        const leaf = new Edge<V>(this.#backwards ? text.slice(0, text.length - done) : text.slice(done));
        node.next.set(c, leaf);
        node = leaf;
        break;
      }
      const shared = this.#shared(child.label, text, done);
      if (shared < child.label.length) node.next.set(c, this.#split(child, shared));
      node = node.next.get(c)!;
      done += shared;
    }
    node.values.push(value);
  }

  /** How many values are filed under exactly `text`. */
  count(text: string): number {
    let node: Edge<V> | undefined = this.#root;
    let done = 0;
    while (done < text.length) {
      node = node.next.get(text.charCodeAt(this.#backwards ? text.length - 1 - done : done));
      if (node === undefined || this.#shared(node.label, text, done) < node.label.length) return 0;
      done += node.label.length;
    }
    return node.values.length;
  }

  /**
   * Calls `visit(values, key)` for every filed text that `key` begins with at `start`
   * (forwards) or ends with (backwards; `start` is ignored), shortest first.
   */
  visit(key: string, start: number, visit: (values: readonly V[], key: string) => void): void {
    let node: Edge<V> | undefined = this.#root;
    if (this.#backwards) {
      let end = key.length;
      while (end > 0) {
        node = node.next.get(key.charCodeAt(end - 1));
        if (node === undefined) return;
        const from = end - node.label.length;
        if (from < 0 || !key.startsWith(node.label, from)) return;
        if (node.values.length > 0) visit(node.values, key);
        end = from;
      }
    } else {
      let at = start;
      while (at < key.length) {
        node = node.next.get(key.charCodeAt(at));
        if (node === undefined || !key.startsWith(node.label, at)) return;
        if (node.values.length > 0) visit(node.values, key);
        at += node.label.length;
      }
    }
  }

  /** How many characters `label` shares with `text` past the `done` already consumed. */
  #shared(label: string, text: string, done: number): number {
    const max = Math.min(label.length, text.length - done);
    let n = 0;
    if (this.#backwards) {
      while (n < max && label.charCodeAt(label.length - 1 - n) === text.charCodeAt(text.length - 1 - done - n)) n++;
    } else {
      while (n < max && label.charCodeAt(n) === text.charCodeAt(done + n)) n++;
    }
    return n;
  }

  /** Splits `edge` after its first `shared` characters (in walk order); returns the new upper part. */
  #split(edge: Edge<V>, shared: number): Edge<V> {
    const label = edge.label;
    const upper = new Edge<V>(this.#backwards ? label.slice(label.length - shared) : label.slice(0, shared));
    edge.label = this.#backwards ? label.slice(0, label.length - shared) : label.slice(shared);
    upper.next.set(edge.label.charCodeAt(this.#backwards ? edge.label.length - 1 : 0), edge);
    return upper;
  }
}

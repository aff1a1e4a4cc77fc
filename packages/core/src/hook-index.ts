import { compilePattern, isLiteralSegment, literalHead, literalTail } from './pattern.js';

export interface IndexedHook<T> {
  readonly pattern: string;
  readonly regex: RegExp;
  /** Registration order across the engine (rule H1). */
  readonly seq: number;
  readonly value: T;
}

/** A trie of characters: hooks filed under the literal text a key must end or begin with. */
class CharNode<T> {
  readonly next = new Map<number, CharNode<T>>();
  readonly hooks: IndexedHook<T>[] = [];

  /** Files `hook` under `text`, read from its end when `backwards`. */
  add(text: string, backwards: boolean, hook: IndexedHook<T>): void {
    let node: CharNode<T> = this;
    for (let n = 0; n < text.length; n++) {
      const c = text.charCodeAt(backwards ? text.length - 1 - n : n);
      let next = node.next.get(c);
      if (!next) node.next.set(c, (next = new CharNode<T>()));
      node = next;
    }
    node.hooks.push(hook);
  }
}

class Node<T> {
  readonly children = new Map<string, Node<T>>();
  /** Hooks with neither a literal tail nor head: tried for every key that reaches this node. */
  readonly hooks: IndexedHook<T>[] = [];
  /** Hooks with a literal tail: tried only for keys that end with it. */
  tails: CharNode<T> | undefined;
  /**
   * Hooks whose pattern has one segment left after this node's, with no literal tail but a
   * literal head (`s1-?`, `report-*`): tried only for keys whose next segment begins with it.
   */
  heads: CharNode<T> | undefined;
}

const NONE: readonly never[] = Object.freeze([]);

/**
 * Patterns indexed once, at registration, so that an operation tests only the patterns that
 * can match its key, however many there are:
 *
 * - by their literal leading segments, in a trie: `tenant/7/*` sits under tenant → 7 and is
 *   never tried for `tenant/8/x`;
 * - then, at that trie node, by the literal text their last segment ends with, in a trie of
 *   characters read from the end: `**\/*.json` is tried only for keys ending in `.json`, and
 *   `users/*\/email` only for keys ending in `email`;
 * - or, when one segment is left after the node and it ends with a glob, by the literal text
 *   it begins with: `sessions/s1-?` is tried only for keys under `sessions/` beginning `s1-`.
 *
 * Only the rest (such as `**`, `users/*` or `logs/*\/x*`) are tried for every key that
 * reaches their node. The regular expression has the last word: the index only narrows the candidates.
 */
export class HookIndex<T> {
  readonly #root = new Node<T>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(pattern: string, seq: number, value: T): IndexedHook<T> {
    const hook: IndexedHook<T> = { pattern, regex: compilePattern(pattern), seq, value };
    this.#size++;
    const tail = literalTail(pattern);
    if (tail === undefined) {
      this.#root.hooks.push(hook);
      return hook;
    }
    const segments = pattern.split('/');
    const { node, depth } = this.#nodeFor(segments);
    const head = depth === segments.length - 1 ? literalHead(segments[depth]!) : '';
    if (tail.length > 0) (node.tails ??= new CharNode<T>()).add(tail, true, hook);
    else if (head.length > 0) (node.heads ??= new CharNode<T>()).add(head, false, hook);
    else node.hooks.push(hook);
    return hook;
  }

  /** The trie node of the pattern's literal leading segments (created as needed) and how many there are. */
  #nodeFor(segments: readonly string[]): { node: Node<T>; depth: number } {
    let node = this.#root;
    let depth = 0;
    // The last segment stays in the node's lists even when literal, so that `users/**`
    // (literal `users`, then a globstar) and `users` land at the same node.
    for (; depth < segments.length - 1 && isLiteralSegment(segments[depth]!); depth++) {
      let child = node.children.get(segments[depth]!);
      if (!child) node.children.set(segments[depth]!, (child = new Node<T>()));
      node = child;
    }
    return { node, depth };
  }

  // Scratch for one match call: match is synchronous (regular expressions cannot call back
  // into it), so no two calls ever share these.
  #found: IndexedHook<T>[] | undefined;
  #unordered = false;

  /** Hooks whose pattern matches `key`, in registration order. */
  match(key: string): readonly IndexedHook<T>[] {
    if (this.#size === 0) return NONE;
    this.#found = undefined;
    this.#unordered = false;
    let node: Node<T> | undefined = this.#root;
    let start = 0;
    while (node) {
      this.#testAll(node.hooks, key);
      if (node.tails !== undefined) this.#testTails(node.tails, key);
      if (node.heads !== undefined) this.#testHeads(node.heads, key, start);
      if (start > key.length || node.children.size === 0) break;
      let end = key.indexOf('/', start);
      if (end === -1) end = key.length;
      node = node.children.get(key.slice(start, end));
      start = end + 1;
    }
    // (TypeScript keeps the `undefined` narrowing from above across the calls that set it.)
    const found = this.#found as IndexedHook<T>[] | undefined;
    if (found === undefined) return NONE;
    this.#found = undefined;
    // Hooks from several nodes and tails interleave in registration order (rule H1).
    if (this.#unordered) found.sort((a, b) => a.seq - b.seq);
    return found;
  }

  #testAll(hooks: readonly IndexedHook<T>[], key: string): void {
    for (let i = 0; i < hooks.length; i++) {
      const hook = hooks[i]!;
      if (!hook.regex.test(key)) continue;
      const found = this.#found;
      if (found === undefined) this.#found = [hook];
      else {
        if (found[found.length - 1]!.seq > hook.seq) this.#unordered = true;
        found.push(hook);
      }
    }
  }

  /** Walks the head trie from where the key's next segment begins, trying the hooks on the way. */
  #testHeads(heads: CharNode<T>, key: string, start: number): void {
    let h: CharNode<T> | undefined = heads;
    for (let i = start; i < key.length; i++) {
      h = h.next.get(key.charCodeAt(i));
      if (h === undefined) return;
      if (h.hooks.length > 0) this.#testAll(h.hooks, key);
    }
  }

  /** Walks the tail trie from the key's last character back, trying the hooks on the way. */
  #testTails(tails: CharNode<T>, key: string): void {
    let t: CharNode<T> | undefined = tails;
    for (let i = key.length - 1; i >= 0; i--) {
      t = t.next.get(key.charCodeAt(i));
      if (t === undefined) return;
      if (t.hooks.length > 0) this.#testAll(t.hooks, key);
    }
  }
}

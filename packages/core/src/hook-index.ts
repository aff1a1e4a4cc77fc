import { compilePattern, isLiteralSegment } from './pattern.js';

export interface IndexedHook<T> {
  readonly pattern: string;
  readonly regex: RegExp;
  /** Registration order across the engine (rule H1). */
  readonly seq: number;
  readonly value: T;
}

class Node<T> {
  readonly children = new Map<string, Node<T>>();
  readonly hooks: IndexedHook<T>[] = [];
}

const NONE: readonly never[] = Object.freeze([]);

/**
 * Patterns indexed by their literal leading segments, so an operation tests only the
 * patterns that can match its key: `tenant/7/*` sits under tenant → 7 and is never tried for
 * `tenant/8/x`, however many tenants have rules. Patterns starting with a glob sit at the
 * root and are tried for every key.
 */
export class HookIndex<T> {
  readonly #root = new Node<T>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(pattern: string, seq: number, value: T): IndexedHook<T> {
    const hook: IndexedHook<T> = { pattern, regex: compilePattern(pattern), seq, value };
    let node = this.#root;
    const segments = pattern.split('/');
    // The last segment stays in the node's list even when literal, so that `users/**`
    // (literal `users`, then a globstar) and `users` land at the same node.
    for (let i = 0; i < segments.length - 1 && isLiteralSegment(segments[i]!); i++) {
      let child = node.children.get(segments[i]!);
      if (!child) node.children.set(segments[i]!, (child = new Node<T>()));
      node = child;
    }
    node.hooks.push(hook);
    this.#size++;
    return hook;
  }

  /** Hooks whose pattern matches `key`, in registration order. */
  match(key: string): readonly IndexedHook<T>[] {
    if (this.#size === 0) return NONE;
    let out: IndexedHook<T>[] | undefined;
    let fromSeveralNodes = false;
    let node: Node<T> | undefined = this.#root;
    let start = 0;
    while (node) {
      for (const hook of node.hooks) {
        if (hook.regex.test(key)) {
          if (out === undefined) out = [hook];
          else {
            if (out[out.length - 1]!.seq > hook.seq) fromSeveralNodes = true;
            out.push(hook);
          }
        }
      }
      if (start > key.length || node.children.size === 0) break;
      let end = key.indexOf('/', start);
      if (end === -1) end = key.length;
      node = node.children.get(key.slice(start, end));
      start = end + 1;
    }
    if (out === undefined) return NONE;
    if (fromSeveralNodes) out.sort((a, b) => a.seq - b.seq);
    return out;
  }
}

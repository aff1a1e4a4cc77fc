import { compilePattern, isLiteralSegment, literalHead, literalTail, plainSlashes, type PatternMatcher } from './pattern.js';
import { FragmentIndex } from './fragment-index.js';
import { TextTrie } from './text-trie.js';

export interface IndexedHook<T> {
  readonly pattern: string;
  /** The compiled pattern: `matcher.test(key)`. */
  readonly matcher: PatternMatcher;
  /** Registration order across the engine (rule H1). */
  readonly seq: number;
  readonly value: T;
}

/** An indexed hook with the one-element answer for keys that only it matches, built once. */
interface Stored<T> extends IndexedHook<T> {
  readonly alone: readonly IndexedHook<T>[];
  /** Filed under more than one fragment (one per brace alternative): found more than once. */
  shared: boolean;
  /** The match call that last tested it, for `shared` hooks. */
  lookup: number;
}

function stored<T>(hook: IndexedHook<T>): Stored<T> {
  const s = hook as Stored<T> & { alone: readonly IndexedHook<T>[] };
  s.alone = Object.freeze([hook]);
  s.shared = false;
  s.lookup = 0;
  return s;
}

class Node<T> {
  readonly children = new Map<string, Node<T>>();
  /**
   * The same children while there are few: comparing a handful of names in place is cheaper
   * than cutting the key's segment out to look it up (a new string per lookup).
   */
  few: [string, Node<T>][] | undefined = [];
  /** Hooks with neither a literal tail nor head: tried for every key that reaches this node. */
  readonly hooks: Stored<T>[] = [];
  /** Hooks with a literal tail: tried only for keys that end with it. */
  tails: TextTrie<Stored<T>> | undefined;
  /**
   * Hooks whose pattern has one segment left after this node's, with no literal tail but a
   * literal head (`s1-?`, `report-*`): tried only for keys whose next segment begins with it.
   */
  heads: TextTrie<Stored<T>> | undefined;

  /** The child named `segment`, created if missing. */
  child(segment: string): Node<T> {
    let child = this.children.get(segment);
    if (!child) {
      this.children.set(segment, (child = new Node<T>()));
      this.few = this.children.size <= FEW ? [...this.children] : undefined;
    }
    return child;
  }

  /** The child named `key.slice(start, end)`, if any. */
  find(key: string, start: number, end: number): Node<T> | undefined {
    const few = this.few;
    if (few === undefined) return this.children.get(key.slice(start, end));
    for (let i = 0; i < few.length; i++) {
      const [name, child] = few[i]!;
      if (name.length === end - start && key.startsWith(name, start)) return child;
    }
    return undefined;
  }
}

/** Children compared in place up to this many; past it, looked up in the map. */
const FEW = 8;

/** An index of at most this many hooks tests each of them in turn ({@link HookIndex}). */
const FEW_HOOKS = 4;

/** The hooks of `hooks` (in registration order) whose pattern matches `key`. */
function matchEach<T>(hooks: readonly Stored<T>[], key: string): readonly IndexedHook<T>[] {
  let found: IndexedHook<T>[] | undefined;
  for (let i = 0; i < hooks.length; i++) {
    const hook = hooks[i]!;
    if (!hook.matcher.test(key)) continue;
    // Most keys match one hook: its prebuilt array, copied only for a second.
    if (found === undefined) found = hook.alone as IndexedHook<T>[];
    else found = found.length === 1 ? [found[0]!, hook] : (found.push(hook), found);
  }
  return found ?? NONE;
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
 * - or, by a literal text they require anywhere after their literal leading segments (a
 *   literal segment, or a literal run of a glob segment), in a {@link FragmentIndex} (an
 *   Aho–Corasick automaton once there are many): `users/*42*` is tried only for keys
 *   containing `42`, `*\/x42/**` only for keys containing `x42`. A brace pattern is filed under
 *   one text of each alternative.
 *
 * Of the places a pattern could go, it goes where the fewest patterns already sit under the
 * same text (ties: literal tail, literal head, fragment), so that 10,000 patterns sharing a
 * tail (`*42*\/x`) spread out over their other texts.
 *
 * Only patterns with no literal text after their literal leading segments (such as `**`,
 * `users/*` or `*\/*\/?`) are tried for every key that reaches their node. The matcher has the
 * last word: the index only narrows the candidates.
 */
export class HookIndex<T> {
  readonly #root = new Node<T>();
  readonly #fragments = new FragmentIndex<Stored<T>>();
  #hasFragments = false;
  #lookup = 0;
  #size = 0;
  /**
   * Every hook in registration order while there are at most {@link FEW_HOOKS}: testing each
   * one's matcher (most fail on their first literal character) is cheaper than walking the
   * index for them. Undefined past that.
   */
  #few: Stored<T>[] | undefined = [];

  get size(): number {
    return this.#size;
  }

  add(pattern: string, seq: number, value: T): IndexedHook<T> {
    const hook = stored<T>({ pattern, matcher: compilePattern(pattern), seq, value });
    this.#size++;
    if (this.#few !== undefined) {
      this.#few = this.#size <= FEW_HOOKS ? [...this.#few, hook].sort((a, b) => a.seq - b.seq) : undefined;
    }
    // Indexed as matched: `users\/**` is `users/**`.
    const plain = plainSlashes(pattern);
    const tail = literalTail(plain);
    const segments = plain.split('/');
    const { node, depth } = this.#nodeFor(segments);
    const head = depth === segments.length - 1 ? literalHead(segments[depth]!) : '';
    // Where the fewest hooks already sit under the same text; ties keep the anchored places.
    const tailCount = tail.length > 0 ? (node.tails?.count(tail) ?? 0) : Infinity;
    const headCount = head.length > 0 ? (node.heads?.count(head) ?? 0) : Infinity;
    const fragments = this.#fragmentsFor(hook.matcher, depth);
    let fragmentCount = Infinity;
    if (fragments !== undefined) {
      fragmentCount = 0;
      for (const text of fragments) fragmentCount = Math.max(fragmentCount, this.#fragments.count(text));
    }
    const least = Math.min(tailCount, headCount, fragmentCount);
    if (least === Infinity) node.hooks.push(hook);
    else if (tailCount === least) (node.tails ??= new TextTrie('backwards')).add(tail, hook);
    else if (headCount === least) (node.heads ??= new TextTrie('forwards')).add(head, hook);
    else {
      for (const text of fragments!) this.#fragments.add(text, hook);
      hook.shared = fragments!.length > 1;
      this.#hasFragments = true;
    }
    return hook;
  }

  /**
   * One literal text per alternative that every key it matches contains, from segment `depth`
   * on (the leading ones are the trie's): the one the fewest hooks sit under, the longest of
   * those. Undefined when an alternative has none.
   */
  #fragmentsFor(matcher: PatternMatcher, depth: number): string[] | undefined {
    const chosen = new Set<string>();
    for (const runs of matcher.literalRuns(depth)) {
      let best: string | undefined;
      let bestCount = Infinity;
      for (const text of runs) {
        const count = this.#fragments.count(text);
        if (count < bestCount || (count === bestCount && text.length > best!.length)) [best, bestCount] = [text, count];
      }
      if (best === undefined) return undefined;
      chosen.add(best);
    }
    return [...chosen];
  }

  /** The trie node of the pattern's literal leading segments (created as needed) and how many there are. */
  #nodeFor(segments: readonly string[]): { node: Node<T>; depth: number } {
    let node = this.#root;
    let depth = 0;
    // The last segment stays in the node's lists even when literal, so that `users/**`
    // (literal `users`, then a globstar) and `users` land at the same node.
    for (; depth < segments.length - 1 && isLiteralSegment(segments[depth]!); depth++) {
      node = node.child(segments[depth]!);
    }
    return { node, depth };
  }

  // Scratch for one match call: match is synchronous (matchers cannot call back
  // into it), so no two calls ever share these.
  #found: IndexedHook<T>[] | undefined;
  #unordered = false;

  /** Hooks whose pattern matches `key`, in registration order. */
  match(key: string): readonly IndexedHook<T>[] {
    if (this.#size === 0) return NONE;
    const few = this.#few;
    if (few !== undefined) return matchEach(few, key);
    this.#found = undefined;
    this.#unordered = false;
    let node: Node<T> | undefined = this.#root;
    let start = 0;
    while (node) {
      this.#testAll(node.hooks, key);
      if (node.tails !== undefined) node.tails.visit(key, 0, this.#test);
      if (node.heads !== undefined) node.heads.visit(key, start, this.#test);
      if (start > key.length || node.children.size === 0) break;
      let end = key.indexOf('/', start);
      if (end === -1) end = key.length;
      node = node.find(key, start, end);
      start = end + 1;
    }
    if (this.#hasFragments) {
      this.#lookup++;
      this.#fragments.visit(key, this.#testFragment);
    }
    // (TypeScript keeps the `undefined` narrowing from above across the calls that set it.)
    const found = this.#found as IndexedHook<T>[] | undefined;
    if (found === undefined) return NONE;
    this.#found = undefined;
    // Hooks from several nodes and tails interleave in registration order (rule H1).
    if (this.#unordered) found.sort((a, b) => a.seq - b.seq);
    return found;
  }

  // Bound once: the tries call it back for each run of candidates.
  readonly #test = (hooks: readonly Stored<T>[], key: string): void => this.#testAll(hooks, key);

  // The same for fragments, where a hook filed under several texts may turn up again.
  readonly #testFragment = (hooks: readonly Stored<T>[], key: string): void => {
    for (let i = 0; i < hooks.length; i++) {
      const hook = hooks[i]!;
      if (hook.shared) {
        if (hook.lookup === this.#lookup) continue;
        hook.lookup = this.#lookup;
      }
      this.#testOne(hook, key);
    }
  };

  #testAll(hooks: readonly Stored<T>[], key: string): void {
    for (let i = 0; i < hooks.length; i++) this.#testOne(hooks[i]!, key);
  }

  #testOne(hook: Stored<T>, key: string): void {
    if (!hook.matcher.test(key)) return;
    const found = this.#found;
    if (found === undefined) {
      // Most keys match one hook: answer with its prebuilt array, copied only for a second.
      this.#found = hook.alone as IndexedHook<T>[];
    } else {
      if (found[found.length - 1]!.seq > hook.seq) this.#unordered = true;
      this.#found = found.length === 1 ? [found[0]!, hook] : (found.push(hook), found);
    }
  }
}

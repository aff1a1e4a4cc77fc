/**
 * The ids of the rules that applied to one operation, in evaluation order, as a node of a
 * shared tree: operations that apply the same rules in the same order share one node, so
 * collecting them allocates nothing once the tree has seen that sequence, and an audit log
 * holding many such lists holds one array for all of them.
 */
export class AppliedRules {
  /**
   * The ids, oldest first, shared by every operation on this node: never handed out, only
   * copies of it (not frozen: V8 copies a frozen array several times slower).
   */
  readonly ids: readonly string[];
  #next: Map<string, AppliedRules> | undefined = undefined;
  // The last sequence asked for from here, answered without the map: operations in a row
  // (a scan's keys, a batch's operations) mostly apply the same rules.
  #lastId: string | undefined = undefined;
  #last: AppliedRules | undefined = undefined;

  private constructor(ids: readonly string[]) {
    this.ids = ids;
  }

  /** The sequence of no rules: where every operation starts. */
  static readonly NONE = new AppliedRules([]);

  /** This sequence followed by `id`. */
  then(id: string): AppliedRules {
    if (id === this.#lastId) return this.#last!;
    const known = this.#next?.get(id);
    if (known !== undefined) {
      this.#lastId = id;
      this.#last = known;
      return known;
    }
    const node = new AppliedRules([...this.ids, id]);
    // Past the bound, sequences are made per operation (correct, just not shared): the tree
    // never grows with the number of distinct keys or rule combinations an attacker can cause.
    if (nodes < MAX_NODES) {
      nodes++;
      (this.#next ??= new Map()).set(id, node);
      this.#lastId = id;
      this.#last = node;
    }
    return node;
  }
}

/** Most shared sequences kept, over every engine in the process. */
const MAX_NODES = 65_536;
let nodes = 0;

/**
 * The Redis key of a bucket: `<keyPrefix>{<hashTag>}:<bucket key>`, for example
 * `sochdb-policy:rl:{default}:write|agent_id|100/60000|agent-7`.
 *
 * Redis Cluster hashes only the text between the first `{` and the next `}`. Any set of
 * buckets may meet in one atomic call (a `write` limit with an `all` limit, a global bucket
 * with an agent's), and a bucket must keep one key across calls, so the tag cannot depend on
 * the call: it is one tag per store, and every bucket of the store lives in one slot. The
 * prefix has no braces (checked), so the tag is always the first one in the key.
 */
export function keyBase(keyPrefix: string, hashTag: string): string {
  return `${keyPrefix}{${hashTag}}:`;
}

import { Command, type Cluster, type Redis } from 'ioredis';

/** `flat()` of an array whose elements are flat already: the array itself. */
function itself<T>(this: T[]): T[] {
  return this;
}

/**
 * An EVALSHA or EVAL as the ioredis Command that `client.evalsha(...)` would send: the
 * client's own `keyPrefix` and `showFriendlyErrorStack` apply the same way. `args` is the
 * whole argument list, flat (`[sha or script, numkeys, ...keys, ...argv]`); the Command keeps
 * it as its own and may rewrite it (a `keyPrefix` is written into the keys), so give each
 * Command a new array.
 *
 * Why not `client.evalsha`: every ioredis Command flattens its arguments with
 * `Array.prototype.flat`, which V8 runs element by element on a slow generic path, about
 * 0.4 µs for these six arguments: more than all the rest of the store's JavaScript per call.
 * Here the arguments are flat already, so their array answers `flat()` with itself (an own
 * property, assigned rather than defined: defining one costs a third of what it saves; ioredis
 * reads arguments by index only). Should ioredis flatten some other way, this only stops
 * saving time; the arguments are the same.
 * (Commands built here do not join a client's auto-pipelining; the store batches writes of
 * concurrent calls itself.)
 */
export function scriptCommand(client: Redis | Cluster, name: 'evalsha' | 'eval', args: (string | number)[]): Command {
  (args as { flat?: unknown }).flat = itself;
  const { keyPrefix, showFriendlyErrorStack } = client.options as { keyPrefix?: string; showFriendlyErrorStack?: boolean };
  return new Command(name, args, {
    keyPrefix,
    errorStack: showFriendlyErrorStack ? new Error() : undefined,
    replyEncoding: 'utf8',
  });
}

import { createRequire } from 'node:module';
import { constants } from 'node:os';

/**
 * flock(2): a lock the kernel keeps on an open file description. Node has no binding for it,
 * so it is called through koffi (an FFI whose binaries ship inside its npm package: no
 * compiler or header download at install). Unlike a pid in a file, the kernel lock is
 * released when the holder dies however it dies, means the same thing in every PID
 * namespace, and is taken atomically: of any number of processes trying at once, one wins.
 * Unlike fcntl() locks it also conflicts between two descriptors of one process.
 */
type FlockFn = (fd: number, op: number) => number;

const LOCK_EX = 2;
const LOCK_NB = 4;
/** Where libc lives: glibc, musl, macOS. */
const LIBC = ['libc.so.6', 'libc.musl-x86_64.so.1', 'libc.musl-aarch64.so.1', 'libc.so', '/usr/lib/libSystem.B.dylib'];

let bound: { flock: FlockFn; errno: () => number } | undefined;

function bind(): { flock: FlockFn; errno: () => number } {
  if (bound !== undefined) return bound;
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  let lastError: unknown;
  for (const name of LIBC) {
    try {
      const lib = koffi.load(name);
      const fn = lib.func('int flock(int fd, int operation)') as unknown as FlockFn;
      bound = { flock: fn, errno: () => koffi.errno() };
      return bound;
    } catch (error) {
      lastError = error;
    }
  }
  throw new Error(`cannot load flock(2) from the C library (tried ${LIBC.join(', ')})`, { cause: lastError });
}

/**
 * Takes an exclusive lock on `fd` without waiting. True when taken; false when another open
 * file description (another process, or another open() in this one) holds it. Other errors
 * throw with their errno code.
 */
export function tryLockExclusive(fd: number): boolean {
  const { flock, errno } = bind();
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
    const e = errno();
    if (e === constants.errno.EINTR) continue;
    if (e === constants.errno.EWOULDBLOCK || e === constants.errno.EAGAIN) return false;
    const name = Object.entries(constants.errno).find(([, v]) => v === e)?.[0] ?? `errno ${e}`;
    throw Object.assign(new Error(`flock failed: ${name}`), { code: name, errno: e, syscall: 'flock' });
  }
}

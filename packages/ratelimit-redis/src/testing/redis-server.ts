import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** Whether tests can get a Redis server, and if not, why (use it as the skip reason). */
export interface RedisAvailability {
  available: boolean;
  /** Why not; undefined when available. */
  reason: string | undefined;
}

export interface StartRedisServerOptions {
  /**
   * Always start a local `redis-server`, even when REDIS_URL is set: for tests that kill and
   * restart the server. @default false
   */
  spawn?: boolean;
  /** Milliseconds to wait for a started server to answer PING. @default 10000 */
  readyTimeoutMs?: number;
  /**
   * More `redis-server` arguments, after the defaults (e.g. `['--cluster-enabled', 'yes']`).
   * Implies `spawn`. @default []
   */
  args?: string[];
}

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` (or REDIS_URL). */
  readonly url: string;
  readonly port: number;
  /** True when this is REDIS_URL's server: stop() leaves it alone; kill(), restart(), pause() and resume() throw. */
  readonly external: boolean;
  /** Shuts the server down (SIGTERM) and removes its directory. */
  stop(): Promise<void>;
  /** Kills the server with SIGKILL, as a crash would; restart() brings it back. */
  kill(): Promise<void>;
  /** Starts the server again on the same port (stopping it first if it runs). */
  restart(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open, nothing answers, as with a hung host. */
  pause(): void;
  /** Lets a paused server run again (SIGCONT). */
  resume(): void;
}

/** Where `redis-server` is on PATH, if anywhere. */
export function findRedisServer(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'redis-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

const requireRedis = () => process.env.REQUIRE_REDIS === '1' || process.env.REQUIRE_REDIS === 'true';

/**
 * Synchronous, so it can feed `describe.skipIf`. Throws when REQUIRE_REDIS=1 (set on CI) and
 * no server can be had: there a missing Redis fails the run instead of skipping tests.
 */
export function redisAvailability(options: Pick<StartRedisServerOptions, 'spawn'> = {}): RedisAvailability {
  if (!options.spawn && process.env.REDIS_URL) return { available: true, reason: undefined };
  if (findRedisServer() !== undefined) return { available: true, reason: undefined };
  const reason = options.spawn
    ? 'redis-server is not on PATH (this test starts its own server, to kill or configure it; REDIS_URL is not enough)'
    : 'redis-server is not on PATH and REDIS_URL is not set';
  if (requireRedis()) throw new Error(`REQUIRE_REDIS=1 but ${reason}`);
  return { available: false, reason };
}

/**
 * A Redis server for tests: REDIS_URL's if set (unless `spawn`), else `redis-server` from PATH
 * on a free loopback port with a temporary directory and no persistence.
 */
export async function startRedisServer(options: StartRedisServerOptions = {}): Promise<RedisServer> {
  const { readyTimeoutMs = 10_000, args = [] } = options;
  const mustSpawn = options.spawn === true || args.length > 0;
  const availability = redisAvailability({ spawn: mustSpawn });
  if (!availability.available) throw new Error(`no Redis server for tests: ${availability.reason}`);
  const external = process.env.REDIS_URL;
  if (!mustSpawn && external) return externalServer(external);
  const binary = findRedisServer()!;
  // A free port can be taken between probing and binding; try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'sochdb-redis-'));
    const server = new LocalServer(binary, port, dir, readyTimeoutMs, args);
    try {
      await server.start();
      return server;
    } catch (error) {
      lastError = error;
      await server.stop();
    }
  }
  throw lastError;
}

function externalServer(url: string): RedisServer {
  const port = Number(new URL(url).port || 6379);
  const refuse = (): never => {
    throw new Error('cannot kill, restart or pause the REDIS_URL server; call startRedisServer({ spawn: true })');
  };
  return { url, port, external: true, stop: async () => {}, kill: async () => refuse(), restart: async () => refuse(), pause: refuse, resume: refuse };
}

/** Servers still running when the test process exits are killed, and their directories removed. */
const running = new Set<LocalServer>();
let exitHookInstalled = false;
function track(server: LocalServer): void {
  running.add(server);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const s of running) s.abandon();
  });
}

class LocalServer implements RedisServer {
  readonly url: string;
  readonly external = false;
  #child: ChildProcess | undefined;
  #log = '';

  constructor(
    readonly binary: string,
    readonly port: number,
    readonly dir: string,
    readonly readyTimeoutMs: number,
    readonly extraArgs: readonly string[],
  ) {
    this.url = `redis://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, ...this.extraArgs];
    const child = spawn(this.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#log = '';
    const keep = (chunk: Buffer) => {
      this.#log = (this.#log + chunk.toString()).slice(-4000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    track(this);
    const exited = new Promise<never>((_, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => reject(new Error(`redis-server exited (${signal ?? code}) before it was ready:\n${this.#log}`)));
    });
    exited.catch(() => {});
    await Promise.race([waitForPong(this.port, this.readyTimeoutMs), exited]);
  }

  async stop(): Promise<void> {
    await this.#end('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
    running.delete(this);
  }

  /** At process exit: no time to wait, so SIGKILL and remove the directory synchronously. */
  abandon(): void {
    this.#child?.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  async kill(): Promise<void> {
    await this.#end('SIGKILL');
  }

  async restart(): Promise<void> {
    await this.#end('SIGTERM');
    await this.start();
  }

  pause(): void {
    this.#signal('SIGSTOP');
  }

  resume(): void {
    this.#signal('SIGCONT');
  }

  #signal(signal: NodeJS.Signals): void {
    if (this.#child === undefined || this.#child.exitCode !== null || this.#child.signalCode !== null) throw new Error('redis-server is not running');
    this.#child.kill(signal);
  }

  async #end(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    // A paused server would hold SIGTERM until it runs again.
    if (signal !== 'SIGKILL') child.kill('SIGCONT');
    await exited;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Resolves once the server answers PING (without a client library: this helper needs none). */
async function waitForPong(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ping(port)) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString();
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import pg from 'pg';

/** Whether tests can start a PostgreSQL server, and if not, why (use it as the skip reason). */
export interface PostgresAvailability {
  available: boolean;
  /** Why not; undefined when available. */
  reason: string | undefined;
  /** The folder holding `initdb` and `postgres`, when found. */
  binDir?: string;
}

export interface StartPostgresServerOptions {
  /** Milliseconds to wait for the started server to accept connections. @default 60000 */
  readyTimeoutMs?: number;
  /** More `-c name=value` settings for the server, after the defaults. @default {} */
  settings?: Record<string, string | number>;
}

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`: the bootstrap superuser, trust authentication on loopback. */
  readonly url: string;
  readonly port: number;
  /** The temporary folder: `data/` (the cluster) and the server's Unix socket. */
  readonly dir: string;
  /** A URL for another role (created by the caller) on the same server and database. */
  urlFor(role: string, password?: string): string;
  /** Shuts the server down (fast shutdown) and removes its folder. */
  stop(): Promise<void>;
  /**
   * Crashes the server: an immediate shutdown (SIGQUIT to the postmaster, which kills every
   * backend at once, writes no checkpoint and needs WAL recovery on the next start), the
   * state a power cut leaves as far as PostgreSQL is concerned. restart() brings it back.
   */
  kill(): Promise<void>;
  /** Starts the server again on the same port and data (stopping it first if it runs). */
  restart(): Promise<void>;
}

const requirePostgres = () =>
  ['1', 'true'].includes(process.env.REQUIRE_POSTGRES ?? '') || process.env.CI === 'true' || process.env.CI === '1';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const hasServer = (dir: string) => executable(join(dir, 'initdb')) && executable(join(dir, 'postgres'));

/**
 * The folder with `initdb` and `postgres`: PG_BINDIR if set; else the folder an `initdb` on
 * PATH really lives in (Debian puts the binaries in /usr/lib/postgresql/<version>/bin and
 * none on PATH); else the newest /usr/lib/postgresql/<version>/bin.
 */
export function findPostgresBinDir(): string | undefined {
  const fromEnv = process.env.PG_BINDIR;
  if (fromEnv) return hasServer(fromEnv) ? fromEnv : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir || !executable(join(dir, 'initdb'))) continue;
    const real = dirname(realpathSync(join(dir, 'initdb')));
    if (hasServer(real)) return real;
  }
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    if (hasServer(join(root, v, 'bin'))) return join(root, v, 'bin');
  }
  return undefined;
}

/**
 * Synchronous, so it can feed `describe.skipIf`. Throws when PostgreSQL is required (CI=true
 * or REQUIRE_POSTGRES=1) and not installed: there a missing server fails the run instead of
 * skipping tests.
 */
export function postgresAvailability(): PostgresAvailability {
  const binDir = findPostgresBinDir();
  if (binDir !== undefined) return { available: true, reason: undefined, binDir };
  const reason = process.env.PG_BINDIR
    ? `PG_BINDIR=${process.env.PG_BINDIR} holds no initdb and postgres`
    : 'PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql)';
  if (requirePostgres()) throw new Error(`PostgreSQL is required here (CI or REQUIRE_POSTGRES=1) but ${reason}`);
  return { available: false, reason };
}

interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

/**
 * PostgreSQL refuses to run as root. As root, the server runs as the `postgres` user (which
 * Debian's package creates) or else `nobody`, through spawn's uid/gid: no su, sudo or
 * runuser needed. The temporary folder is then given to that user, so it must be under a
 * folder that user can enter (the default, os.tmpdir() = /tmp, is).
 */
function runAs(): RunAs | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':'));
  for (const name of ['postgres', 'nobody']) {
    const row = passwd.find((f) => f[0] === name);
    if (row !== undefined && Number(row[2]) !== 0) return { name, uid: Number(row[2]), gid: Number(row[3]) };
  }
  throw new Error('running as root and there is no postgres or nobody user to run PostgreSQL as (it refuses to run as root)');
}

/**
 * A PostgreSQL server for tests: `initdb` in a new temporary folder, then `postgres` on a free
 * loopback port, as a child of this process (so it cannot outlive the test run). Trust
 * authentication on 127.0.0.1 only; fsync stays on (durability is what is tested).
 */
export async function startPostgresServer(options: StartPostgresServerOptions = {}): Promise<PostgresServer> {
  const availability = postgresAvailability();
  if (!availability.available) throw new Error(`no PostgreSQL for tests: ${availability.reason}`);
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'sochdb-pg-'));
  if (user !== undefined) chownSync(dir, user.uid, user.gid);
  const initdb = spawnSync(
    join(availability.binDir!, 'initdb'),
    ['-D', join(dir, 'data'), '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { encoding: 'utf8', cwd: dir, ...(user && { uid: user.uid, gid: user.gid }), env: { ...process.env, LC_ALL: 'C' } },
  );
  if (initdb.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    const why = initdb.error?.message ?? `exit ${initdb.status ?? initdb.signal}`;
    throw new Error(`initdb failed (${why}${user ? `, run as ${user.name}` : ''}):\n${(initdb.stdout ?? '') + (initdb.stderr ?? '')}`.slice(0, 4000));
  }
  let lastError: unknown;
  // A free port can be taken between probing and binding; try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const server = new LocalServer(availability.binDir!, await freePort(), dir, user, options);
    try {
      await server.start();
      return server;
    } catch (error) {
      lastError = error;
      await server.halt();
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

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

class LocalServer implements PostgresServer {
  readonly url: string;
  #child: ChildProcess | undefined;
  #log = '';

  constructor(
    readonly binDir: string,
    readonly port: number,
    readonly dir: string,
    readonly user: RunAs | undefined,
    readonly options: StartPostgresServerOptions,
  ) {
    this.url = this.urlFor('postgres');
  }

  urlFor(role: string, password?: string): string {
    const auth = password === undefined ? encodeURIComponent(role) : `${encodeURIComponent(role)}:${encodeURIComponent(password)}`;
    return `postgres://${auth}@127.0.0.1:${this.port}/postgres`;
  }

  async start(): Promise<void> {
    const settings: Record<string, string | number> = {
      listen_addresses: '127.0.0.1',
      port: this.port,
      unix_socket_directories: this.dir,
      max_connections: 200,
      fsync: 'on',
      synchronous_commit: 'on',
      log_min_messages: 'fatal',
      ...this.options.settings,
    };
    const args = ['-D', join(this.dir, 'data'), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    const child = spawn(join(this.binDir, 'postgres'), args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: this.dir,
      ...(this.user && { uid: this.user.uid, gid: this.user.gid }),
      env: { ...process.env, LC_ALL: 'C' },
    });
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
      child.once('exit', (code, signal) => reject(new Error(`postgres exited (${signal ?? code}) before it was ready:\n${this.#log}`)));
    });
    exited.catch(() => {});
    await Promise.race([this.#waitReady(this.options.readyTimeoutMs ?? 60_000), exited]);
  }

  async #waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 2000 });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.query('SELECT 1');
        await client.end();
        return;
      } catch (error) {
        await client.end().catch(() => {});
        if (this.#child === undefined || this.#child.exitCode !== null) throw new Error(`postgres is not running:\n${this.#log}`);
        if (Date.now() > deadline) throw new Error(`postgres on port ${this.port} was not ready within ${timeoutMs} ms: ${String(error)}\n${this.#log}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    await this.#end('SIGINT');
    rmSync(this.dir, { recursive: true, force: true });
    running.delete(this);
  }

  /** Stops the server, keeps the folder (a failed start on a taken port). */
  async halt(): Promise<void> {
    await this.#end('SIGQUIT');
    running.delete(this);
  }

  abandon(): void {
    this.#child?.kill('SIGQUIT');
    rmSync(this.dir, { recursive: true, force: true });
  }

  async kill(): Promise<void> {
    await this.#end('SIGQUIT');
  }

  async restart(): Promise<void> {
    await this.#end('SIGINT');
    await this.start();
  }

  /** SIGINT: fast shutdown; SIGQUIT: immediate shutdown (crash recovery on the next start). */
  async #end(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
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

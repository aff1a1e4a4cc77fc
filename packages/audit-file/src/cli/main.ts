import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AUDIT_RESULTS, OPERATIONS, type AuditQuery, type AuditResult, type Operation } from '@sochdb-policy/core';
import { readAuditLog, type AuditReadOptions } from '../read/entries.js';
import { queryAuditLog, type AuditRecordView } from '../read/query.js';
import { listRotatedSync } from '../segments.js';
import { verifyAuditLog, type VerifyResult } from '../read/verify.js';
import { newestWindow } from '../read/newest-window.js';
import { jsonRow, safe, safeJson, table, tableHeader, tableRow } from './format.js';
import { isPostgresUrl, loadAuditPostgres, pgJsonRow, pgVerifyText, type PostgresReadQuery, type PostgresRecord } from './postgres.js';

export const USAGE = `Usage: sochdb-policy-audit <command> [options] <path>
       sochdb-policy-audit verify|query [options] <postgres://URL>
       sochdb-policy-audit --help | --version

Commands:
  tail [-n N] [-f]   the newest N entries (default 10); -f keeps printing new ones
                     (long forms: --lines N, --follow)
  query [filters]    the newest --limit entries (default 100) matching the filters,
                     oldest first, printed as they are read (any number, in constant memory)
  verify             check the hash chain: exit 0 when intact, 1 with the first bad seq

Query filters:
  --limit N|all  --agent-id ID  --operation read|write|delete
  --result allowed|denied|rate_limited|redacted|error
  --rule ID                  entries decided by this rule or hook id (format 2 logs)
  --since T  --until T       T in milliseconds since the epoch or an ISO 8601 date
  --from-seq S               start at seq S and go on from there (--limit counts from S);
                             to resume an export, pass the last seq printed plus 1
  --newest-first             newest entries first (with --from-seq: S and older)

Verify options:
  --hmac-key-file FILE       key of an HMAC-protected log (or env SOCHDB_AUDIT_HMAC_KEY)
  --anchor SEQ:HASH          a seq and hash recorded earlier that the log must still contain

PostgreSQL (the tables of @sochdb-policy/audit-postgres, which must be installed:
npm install @sochdb-policy/audit-postgres pg): verify and query take a postgres:// or
postgresql:// URL instead of a path; --anchor is then ID:HASH of a checkpoint, --from-seq
is replaced by --after CURSOR (with --json every row carries its chain_id and cursor), and
  --schema S                 schema of the audit tables (default sochdb_audit)
  --chain-id ID              query: one writer's chain only

Export every entry as JSON Lines: sochdb-policy-audit query --json --limit all <path>
Output: a table by default; --json prints JSON Lines (tail, query) or one object (verify).
Control, format (bidi, zero-width) and separator characters are printed as \\u escapes.
Exit codes: 0 ok, 1 verify found a problem, 2 usage or I/O error (or an HMAC log without
its key), 3 the HMAC key does not match the log (or a key was given for a plain log).
Ctrl-C ends any command; tail -f then exits 0. Output piped into a reader that stops early
(| head) ends the command quietly with exit 0.
`;

/** The one line after a usage error. */
const HINT = "Run 'sochdb-policy-audit --help' for usage.";

/** This package's version, for --version. */
function version(): string {
  // dist/cli/main.js and src/cli/main.ts are both two folders below package.json.
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** node:util parseArgs' errors, in the CLI's own words (one line). */
function parseArgsMessage(error: Error & { code?: string }): string {
  const m = error.message;
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /'([^']+)'/.exec(m)?.[1];
    return option === undefined ? 'unknown option' : `unknown option ${option}`;
  }
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const option = /'(-[^ ']*)/.exec(m)?.[1];
    return option === undefined ? m : `${option} needs a value`;
  }
  return m;
}

/** Exit codes (see USAGE and docs/audit-file.md). */
export const EXIT = { ok: 0, tampered: 1, error: 2, wrongKey: 3 } as const;

/** Exit codes and output go through here so the whole CLI is testable in-process too. */
export interface Io {
  /** Writes output; false asks the CLI to wait for `drain` before writing more (back-pressure). */
  out: (text: string) => boolean | void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Resolves when `out` can take more after it returned false. */
  drain?: () => Promise<void>;
}

/** Output is written in pieces of about this many characters. */
const CHUNK = 64 * 1024;

/**
 * Writes a reader's rows as they come, in pieces, waiting whenever the output pushes back:
 * memory stays one piece and one batch of entries, whatever the number of rows. `eager`
 * writes each batch at once (follow mode: rows appear as they are appended).
 */
async function pump<T>(reader: { nextv(size: number): Promise<T[]>; close(): Promise<void> }, print: (r: T) => string, io: Io, eager: boolean): Promise<void> {
  let chunk = '';
  const flush = async () => {
    const text = chunk;
    chunk = '';
    if (io.out(text) === false && io.drain !== undefined) await io.drain();
  };
  try {
    for (;;) {
      const rows = await reader.nextv(1024);
      if (rows.length === 0) break;
      for (const r of rows) chunk += print(r);
      if (eager || chunk.length >= CHUNK) await flush();
    }
    if (chunk.length > 0) await flush();
  } finally {
    await reader.close();
  }
}

class UsageError extends Error {}

/** `flag` as the user may have written it: `-n` (also --lines), `--limit`. */
function intArg(flag: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

function timeArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (/^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new UsageError(`--${name} must be milliseconds or an ISO 8601 date, got ${JSON.stringify(v)}`);
  return t;
}

function hmacKey(file: string | undefined, env: NodeJS.ProcessEnv): Buffer | undefined {
  if (file !== undefined) {
    // Key files usually end with a newline the key does not include.
    const raw = readFileSync(file);
    const end = raw.at(-1) === 0x0a ? (raw.at(-2) === 0x0d ? raw.length - 2 : raw.length - 1) : raw.length;
    return raw.subarray(0, end);
  }
  const v = env.SOCHDB_AUDIT_HMAC_KEY;
  return v ? Buffer.from(v, 'utf8') : undefined;
}

function verifyText(r: VerifyResult, path: string): string {
  if (r.problem?.reason === 'wrong_key') return `WRONG KEY ${path}: the HMAC key does not match this log; nothing was checked\n  ${r.problem.message}\n`;
  if (r.problem?.reason === 'key_required') return `KEY REQUIRED ${path}: the log is HMAC-protected; give its key with --hmac-key-file or SOCHDB_AUDIT_HMAC_KEY\n  ${r.problem.message}\n`;
  if (!r.ok) return `TAMPERED ${path}\n  ${r.problem!.message}\n  verified before it: ${r.entries} entries, up to seq ${r.lastSeq}\n`;
  const lines = [`OK ${path}: ${r.entries} entries verified${r.firstSeq === null ? '' : ` (seq ${r.firstSeq}..${r.lastSeq})`} in ${r.files} file(s), ${r.alg ?? 'no header'}`];
  lines.push(`  last seq ${r.lastSeq}, last hash ${r.lastHash} (keep them to check later with --anchor ${r.lastSeq}:${r.lastHash})`);
  if (!r.genesis && r.firstSeq !== null) lines.push(`  note: the log starts after seq ${r.firstSeq - 1}; older files were rotated away`);
  if (r.tornTail) lines.push(`  note: ${r.tornTail.bytes} bytes after the last complete line at byte ${r.tornTail.offset} (an append in progress, or a crash; moved aside on the next open)`);
  return `${lines.join('\n')}\n`;
}

type Values = Record<string, string | boolean | undefined>;

/** The query filters shared by files and PostgreSQL, checked. */
function queryFilters(values: Values): Omit<AuditQuery, 'limit'> {
  const text = (name: string) => values[name] as string | undefined;
  if (text('operation') !== undefined && !OPERATIONS.includes(text('operation') as Operation)) {
    throw new UsageError(`--operation must be one of ${OPERATIONS.join(', ')}`);
  }
  if (text('result') !== undefined && !AUDIT_RESULTS.includes(text('result') as AuditResult)) {
    throw new UsageError(`--result must be one of ${AUDIT_RESULTS.join(', ')}`);
  }
  return {
    agentId: text('agent-id'),
    operation: text('operation') as Operation | undefined,
    result: text('result') as AuditResult | undefined,
    ruleId: text('rule'),
    since: timeArg('since', text('since')),
    until: timeArg('until', text('until')),
  };
}

/** `verify` and `query` of a postgres:// URL, through @sochdb-policy/audit-postgres (loaded only here). */
async function postgres(command: string, url: string, values: Values, io: Io): Promise<number> {
  const text = (name: string) => values[name] as string | undefined;
  if (command === 'tail') throw new UsageError('tail reads a file; for a postgres:// URL use query --newest-first --limit N');
  if (command !== 'query' && command !== 'verify') throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  if (values.follow || text('lines') !== undefined) throw new UsageError(`${values.follow ? '-f' : '-n'} applies to tail only`);
  const schema = text('schema');
  if (schema !== undefined && (schema === '' || schema.length > 63)) throw new UsageError(`--schema must be a name of 1 to 63 characters, got ${JSON.stringify(schema)}`);
  if (command === 'verify') {
    for (const name of ['chain-id', 'after'] as const) if (text(name) !== undefined) throw new UsageError(`--${name} applies to query only`);
    let anchor: { id: number; hash: string } | undefined;
    if (text('anchor') !== undefined) {
      const m = /^([1-9]\d*):([0-9a-f]{64})$/.exec(text('anchor')!);
      if (!m) throw new UsageError('--anchor must be ID:HASH for a postgres:// URL (a checkpoint id and 64 lowercase hex digits)');
      anchor = { id: Number(m[1]), hash: m[2]! };
    }
    const key = hmacKey(text('hmac-key-file'), io.env);
    const mod = await loadAuditPostgres();
    const r = await mod.verifyPostgresAudit(url, { schema, hmacKey: key, anchor });
    io.out(values.json ? `${safeJson(r)}\n` : pgVerifyText(r, url));
    if (r.ok) return EXIT.ok;
    if (r.problem?.reason === 'wrong_key') return EXIT.wrongKey;
    return r.problem?.reason === 'key_required' ? EXIT.error : EXIT.tampered;
  }
  if (text('from-seq') !== undefined) throw new UsageError('--from-seq reads a file; for a postgres:// URL resume with --after CURSOR (every --json row carries its cursor)');
  for (const name of ['hmac-key-file', 'anchor'] as const) if (text(name) !== undefined) throw new UsageError(`--${name} applies to verify only`);
  const filters: PostgresReadQuery = { ...queryFilters(values), chainId: text('chain-id') };
  const limit = text('limit') === 'all' ? Infinity : intArg('--limit', text('limit'), 100);
  const after = text('after');
  const mod = await loadAuditPostgres();
  const reader = await mod.openAuditReader(url, { schema });
  try {
    let q: PostgresReadQuery;
    if (values['newest-first']) q = { ...filters, limit, order: 'desc', after };
    else if (after !== undefined || limit === Infinity) q = { ...filters, limit, after };
    else {
      // The newest `limit`, oldest first, in constant memory: from just before the oldest of them.
      q = { ...filters, ...(await newestWindow(reader.records({ ...filters, order: 'desc', limit: limit + 1 }), limit)) };
    }
    if (!values.json) io.out(tableHeader());
    const print = values.json ? pgJsonRow : (r: PostgresRecord) => tableRow(r as unknown as AuditRecordView);
    if (q.limit !== 0) await pump(reader.records(q), print, io, false);
  } finally {
    await reader.close();
  }
  return EXIT.ok;
}

/**
 * Runs the CLI; resolves with the exit code. `tail -f` resolves only when the stop signal
 * aborts: pass a signal, or a function that makes one, called only by `tail -f` (the bin
 * installs its SIGINT/SIGTERM handlers there, so that every other command ends on Ctrl-C).
 */
export async function main(argv: string[], io: Io, stop?: AbortSignal | (() => AbortSignal)): Promise<number> {
  const out = io.out;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        follow: { type: 'boolean', short: 'f' },
        lines: { type: 'string', short: 'n' },
        limit: { type: 'string' },
        'from-seq': { type: 'string' },
        'newest-first': { type: 'boolean' },
        'agent-id': { type: 'string' },
        operation: { type: 'string' },
        result: { type: 'string' },
        rule: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        'hmac-key-file': { type: 'string' },
        anchor: { type: 'string' },
        schema: { type: 'string' },
        'chain-id': { type: 'string' },
        after: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    });
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    if (values.version) {
      io.out(`${version()}\n`);
      return 0;
    }
    const [command, path, ...extra] = positionals;
    if (command === undefined || path === undefined || extra.length > 0) throw new UsageError('expected a command and one path');
    const pgOnly = (['schema', 'chain-id', 'after'] as const).find((name) => values[name] !== undefined);
    if (isPostgresUrl(path)) return await postgres(command, path, values, io);
    if (pgOnly !== undefined) throw new UsageError(`--${pgOnly} applies to a postgres:// URL only`);
    if (!existsSync(path) && listRotatedSync(path).length === 0) {
      io.err(`sochdb-policy-audit: no audit log at ${safe(path)}\n`);
      return 2;
    }
    const print = values.json ? jsonRow : tableRow;
    switch (command) {
      case 'tail': {
        const n = intArg('-n', values.lines, 10);
        const records = await queryAuditLog(path, { limit: n });
        io.out(values.json ? records.map(jsonRow).join('') : table(records));
        if (!values.follow) return 0;
        const signal = typeof stop === 'function' ? stop() : stop;
        // Follow from the last entry shown (with -n 0, from the last entry there is).
        const after = records.at(-1)?.seq ?? (n === 0 ? ((await queryAuditLog(path, { limit: 1 })).at(-1)?.seq ?? 0) : 0);
        try {
          await pump(readAuditLog(path, { after, follow: true, signal }), print, io, true);
        } catch (error) {
          if (signal?.aborted) return 0;
          throw error;
        }
        return 0;
      }
      case 'query': {
        const filters = queryFilters(values);
        const limit = values.limit === 'all' ? Infinity : intArg('--limit', values.limit, 100);
        const from = values['from-seq'] === undefined ? undefined : intArg('--from-seq', values['from-seq'], 0);
        let options: AuditReadOptions;
        if (values['newest-first']) options = { ...filters, limit, order: 'desc', after: from === undefined ? undefined : from + 1 };
        else if (from !== undefined) options = { ...filters, limit, after: from === 0 ? undefined : from - 1 };
        else if (limit === Infinity) options = filters;
        else {
          // The newest `limit`, oldest first, in constant memory: find the oldest of them
          // reading backwards, then print forwards from there (exactly `limit` rows even if
          // entries are appended meanwhile).
          const back = readAuditLog(path, { ...filters, limit, order: 'desc' });
          let oldest: number | undefined;
          let count = 0;
          try {
            for (let rows = await back.nextv(4096); rows.length > 0; rows = await back.nextv(4096)) {
              oldest = rows.at(-1)!.seq;
              count += rows.length;
            }
          } finally {
            await back.close();
          }
          options = { ...filters, limit: count, after: oldest === undefined ? undefined : oldest - 1 };
        }
        if (!values.json) io.out(tableHeader());
        if (options.limit !== 0) await pump(readAuditLog(path, options), print, io, false);
        return 0;
      }
      case 'verify': {
        let anchor: { seq: number; hash: string } | undefined;
        if (values.anchor !== undefined) {
          const m = /^(\d+):([0-9a-f]{64})$/.exec(values.anchor);
          if (!m) throw new UsageError('--anchor must be SEQ:HASH (64 lowercase hex digits)');
          anchor = { seq: Number(m[1]), hash: m[2]! };
        }
        const r = await verifyAuditLog(path, { hmacKey: hmacKey(values['hmac-key-file'], io.env), anchor });
        out(values.json ? `${safeJson(r)}\n` : verifyText(r, path).split('\n').map(safe).join('\n'));
        if (r.ok) return EXIT.ok;
        if (r.problem?.reason === 'wrong_key') return EXIT.wrongKey;
        return r.problem?.reason === 'key_required' ? EXIT.error : EXIT.tampered;
      }
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`sochdb-policy-audit: ${safe(error.message)}\n${HINT}\n`);
      return 2;
    }
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`sochdb-policy-audit: ${safe(parseArgsMessage(error as Error))}\n${HINT}\n`);
      return 2;
    }
    io.err(`sochdb-policy-audit: ${safe((error as Error).message)}\n`);
    return 2;
  }
}


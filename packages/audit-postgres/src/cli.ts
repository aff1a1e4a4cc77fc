#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { AuditEntry, AuditResult, Operation } from '@sochdb-policy/core';
import pg from 'pg';
import { writeCheckpoint } from './checkpoint.js';
import { makeHasher, newestWindow } from '@sochdb-policy/audit-file/format';
import { DEFAULT_SCHEMA } from './postgres-audit-sink.js';
import { streamEntries, type AuditEntryIterator, type PostgresAuditStreamQuery } from './stream.js';
import { verifyPostgresAudit, type PostgresVerifyResult } from './verify.js';

export const USAGE = `Usage: sochdb-policy-audit-postgres <command> [options] <postgres://URL>

Commands:
  verify        check every chain and the checkpoints: exit 0 when intact, 1 with the first problem
  query         the newest --limit entries (default 100) of the fleet matching the filters,
                oldest first, printed as they are read (any number, in constant memory)
  checkpoint    write a checkpoint now and print its id and hash (an anchor to keep elsewhere)

Options:
  --schema S                 schema of the audit tables (default ${DEFAULT_SCHEMA})
  --hmac-key-file FILE       HMAC key (or env SOCHDB_AUDIT_HMAC_KEY)
  --anchor ID:HASH           verify: a checkpoint recorded earlier that must still be there
  --limit N|all --agent-id ID --chain-id ID --operation OP --result R --since T --until T   query filters
  --after CURSOR             query: resume after that entry (with --json every row carries its cursor)
  --newest-first             query: newest entries first
  --json                     JSON output (query: JSON Lines)

Export every entry as JSON Lines: sochdb-policy-audit-postgres query --json --limit all <postgres://URL>
Output piped into a reader that stops early (| head) ends the command quietly with exit 0.
Exit codes: 0 ok, 1 verify found a problem, 2 usage or connection error, 3 wrong or missing HMAC key.
`;

function key(file: string | undefined): Buffer | undefined {
  if (file !== undefined) {
    const raw = readFileSync(file);
    const end = raw.at(-1) === 0x0a ? (raw.at(-2) === 0x0d ? raw.length - 2 : raw.length - 1) : raw.length;
    return raw.subarray(0, end);
  }
  const v = process.env.SOCHDB_AUDIT_HMAC_KEY;
  return v ? Buffer.from(v, 'utf8') : undefined;
}

/** Output is written in pieces of about this many characters. */
const CHUNK = 64 * 1024;

function row(e: AuditEntry, cursor: string | undefined, json: boolean): string {
  if (json) return `${JSON.stringify({ ...e, cursor })}\n`;
  return `${new Date(e.timestamp).toISOString()}  ${e.operation.padEnd(6)}  ${e.result.padEnd(12)}  ${JSON.stringify(e.agentId)}  ${JSON.stringify(e.key)}\n`;
}

/**
 * Writes an iterator's rows as they come, in pieces, waiting for `drain` whenever stdout pushes
 * back: memory stays one piece and one page, whatever the number of rows.
 */
async function pump(it: AuditEntryIterator, json: boolean): Promise<void> {
  let chunk = '';
  const flush = async () => {
    const text = chunk;
    chunk = '';
    if (!process.stdout.write(text)) await new Promise((resolve) => process.stdout.once('drain', resolve));
  };
  try {
    for (;;) {
      // One at a time for the cursor of each row; the iterator reads whole pages underneath.
      const e = await it.next();
      if (e === undefined) break;
      chunk += row(e, it.cursor, json);
      if (chunk.length >= CHUNK) await flush();
    }
    if (chunk.length > 0) await flush();
  } finally {
    await it.close();
  }
}

const time = (v: string | undefined) => (v === undefined ? undefined : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : Date.parse(v));

function verifyText(r: PostgresVerifyResult, url: string): string {
  const where = url.replace(/\/\/[^@/]*@/, '//');
  if (!r.ok) return `TAMPERED ${where}\n  ${r.problems.map((p) => p.message).join('\n  ')}\n`;
  const lines = [`OK ${where}: ${r.entries} entries in ${r.chains.length} chain(s), ${r.checkpoints} checkpoint(s)`];
  for (const c of r.chains) lines.push(`  ${c.chainId}: seq ${c.firstSeq ?? '-'}..${c.lastSeq} ${c.alg}${c.unanchored ? `, ${c.unanchored} after the last checkpoint` : ''}`);
  if (r.lastCheckpoint) lines.push(`  last checkpoint ${r.lastCheckpoint.id} ${r.lastCheckpoint.hash} (keep it to check later with --anchor ${r.lastCheckpoint.id}:${r.lastCheckpoint.hash})`);
  return `${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        schema: { type: 'string' }, 'hmac-key-file': { type: 'string' }, anchor: { type: 'string' }, json: { type: 'boolean' },
        limit: { type: 'string' }, 'agent-id': { type: 'string' }, 'chain-id': { type: 'string' }, operation: { type: 'string' },
        result: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, help: { type: 'boolean', short: 'h' },
        after: { type: 'string' }, 'newest-first': { type: 'boolean' },
      },
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values: o, positionals } = parsed;
  const [command, url] = positionals;
  if (o.help || command === undefined || url === undefined || positionals.length !== 2 || !/^postgres(ql)?:\/\//.test(url)) {
    process.stderr.write(USAGE);
    return o.help ? 0 : 2;
  }
  const schema = o.schema ?? DEFAULT_SCHEMA;
  try {
    if (command === 'verify') {
      let anchor;
      if (o.anchor !== undefined) {
        const m = /^(\d+):([0-9a-f]{64})$/.exec(o.anchor);
        if (!m) throw new Error('--anchor must be ID:HASH');
        anchor = { id: Number(m[1]), hash: m[2]! };
      }
      const r = await verifyPostgresAudit(url, { schema, hmacKey: key(o['hmac-key-file']), anchor });
      process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : verifyText(r, url));
      if (r.ok) return 0;
      return r.problem?.reason === 'key_required' || r.problem?.reason === 'wrong_key' ? 3 : 1;
    }
    if (command === 'query') {
      const limit = o.limit === 'all' ? Infinity : o.limit === undefined ? 100 : /^\d+$/.test(o.limit) ? Number(o.limit) : NaN;
      if (Number.isNaN(limit)) throw new Error(`--limit must be a non-negative integer or all, got ${JSON.stringify(o.limit)}`);
      for (const name of ['since', 'until'] as const) {
        if (o[name] !== undefined && Number.isNaN(time(o[name]))) throw new Error(`--${name} must be milliseconds or an ISO 8601 date, got ${JSON.stringify(o[name])}`);
      }
      const filters: PostgresAuditStreamQuery = {
        agentId: o['agent-id'], chainId: o['chain-id'], operation: o.operation as Operation | undefined,
        result: o.result as AuditResult | undefined, since: time(o.since), until: time(o.until),
      };
      const client = new pg.Client(url);
      client.on('error', () => {});
      await client.connect();
      try {
        let q: PostgresAuditStreamQuery;
        if (o['newest-first'] || o.after !== undefined || limit === Infinity) {
          q = { ...filters, limit, order: o['newest-first'] ? 'desc' : 'asc', after: o.after };
        } else {
          // The newest `limit`, oldest first, in constant memory: from just before the oldest of them.
          q = { ...filters, ...(await newestWindow(streamEntries(client, schema, { ...filters, order: 'desc', limit: limit + 1 }), limit)) };
        }
        await pump(streamEntries(client, schema, q), o.json === true);
      } finally {
        await client.end().catch(() => {});
      }
      return 0;
    }
    if (command === 'checkpoint') {
      const client = new pg.Client(url);
      await client.connect();
      try {
        const cp = await writeCheckpoint(client, schema, makeHasher(key(o['hmac-key-file'])), 'periodic');
        process.stdout.write(o.json ? `${JSON.stringify(cp)}\n` : `checkpoint ${cp.id} ${cp.hash} (${cp.chains} chains)\n`);
      } finally {
        await client.end();
      }
      return 0;
    }
    process.stderr.write(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
    return 2;
  } catch (error) {
    process.stderr.write(`sochdb-policy-audit-postgres: ${(error as Error).message}\n`);
    return 2;
  }
}

// A reader that stops early (`... | head`) closes the pipe: end quietly with exit 0, as
// coreutils do, instead of an unhandled EPIPE. Commands here only read (or commit a checkpoint
// before printing it), so there is nothing to finish first.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}
process.exitCode = await main(process.argv.slice(2));

import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AuditEntry, AuditQuery } from '@sochdb-policy/core';
import type { AuditRecordView } from '../read/query.js';
import { jsonRow, safe, safeJson } from './format.js';

/**
 * `sochdb-policy-audit verify|query <postgres://...>`: the audit tables of
 * `@sochdb-policy/audit-postgres`, which this package does not depend on (that package
 * depends on this one). It is loaded when a URL is given: from the user's project (the
 * current folder), else from next to this package; when it is in neither, the command says
 * how to install it and exits 2.
 */

/** What this CLI uses of `@sochdb-policy/audit-postgres` (its own types are not a dependency here). */
export interface PostgresRecord extends AuditEntry {
  chainId: string;
  seq: number;
  hash: string;
  cursor: string;
}
interface RecordIterator {
  nextv(size: number): Promise<PostgresRecord[]>;
  readonly cursor: string | undefined;
  close(): Promise<void>;
}
export interface PostgresReadQuery extends Omit<AuditQuery, 'limit'> {
  chainId?: string;
  limit?: number;
  order?: 'asc' | 'desc';
  after?: string;
}
export interface PostgresVerifyReport {
  ok: boolean;
  chains: { chainId: string; alg: string; firstSeq: number | null; lastSeq: number; unanchored: number }[];
  entries: number;
  checkpoints: number;
  lastCheckpoint: { id: number; hash: string } | null;
  genesis: boolean;
  problem?: { reason: string; message: string };
  problems: { reason: string; message: string }[];
}
export interface AuditPostgresModule {
  verifyPostgresAudit(url: string, options: { schema?: string; hmacKey?: Uint8Array; anchor?: { id: number; hash: string } }): Promise<PostgresVerifyReport>;
  openAuditReader(url: string, options: { schema?: string }): Promise<{ records(q: PostgresReadQuery): RecordIterator; close(): Promise<void> }>;
}

export const PACKAGE = '@sochdb-policy/audit-postgres';
export const INSTALL_HINT = `npm install ${PACKAGE} pg`;

/** A `postgres://` or `postgresql://` URL rather than a path. */
export function isPostgresUrl(target: string): boolean {
  return /^postgres(ql)?:\/\//i.test(target);
}

/** The URL without its user info (a password must not reach a terminal or a log). */
export function displayUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/)[^@/?#]*@/i, '$1');
}

export class MissingPostgresPackage extends Error {}

const notFound = (error: unknown) => {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
};

/** Loads `@sochdb-policy/audit-postgres` from the user's project (`cwd`), else from next to this package. */
export async function loadAuditPostgres(cwd = process.cwd(), load: (specifier: string) => Promise<unknown> = (s) => import(s)): Promise<AuditPostgresModule> {
  let specifier = PACKAGE;
  try {
    specifier = pathToFileURL(createRequire(join(cwd, 'package.json')).resolve(PACKAGE)).href;
  } catch (error) {
    if (!notFound(error)) throw error;
  }
  let mod: Partial<AuditPostgresModule>;
  try {
    mod = (await load(specifier)) as Partial<AuditPostgresModule>;
  } catch (error) {
    // audit-postgres itself missing, or its `pg` missing under it.
    if (notFound(error)) {
      throw new MissingPostgresPackage(
        `reading a postgres:// URL needs ${PACKAGE} (with pg), which cannot be loaded from ${cwd} or next to @sochdb-policy/audit-file (${(error as Error).message.split('\n')[0]}). Install it in your project: ${INSTALL_HINT}`,
      );
    }
    throw error;
  }
  if (typeof mod.verifyPostgresAudit !== 'function' || typeof mod.openAuditReader !== 'function') {
    throw new MissingPostgresPackage(`the installed ${PACKAGE} is too old for sochdb-policy-audit (it has no openAuditReader); update it: ${INSTALL_HINT}@latest`);
  }
  return mod as AuditPostgresModule;
}

/** `--json` for a PostgreSQL row: the file's row, then the chain it belongs to and the cursor to resume after it. */
export function pgJsonRow(r: PostgresRecord): string {
  const line = jsonRow(r as unknown as AuditRecordView);
  return `${line.slice(0, -2)},"chain_id":${safeJson(r.chainId)},"cursor":"${r.cursor}"}\n`;
}

/** Verify's text, in the words of a file's. */
export function pgVerifyText(r: PostgresVerifyReport, url: string): string {
  const where = safe(displayUrl(url));
  const reason = r.problem?.reason;
  if (reason === 'wrong_key') return `WRONG KEY ${where}: the HMAC key does not match these chains\n  ${safe(r.problem!.message)}\n`;
  if (reason === 'key_required') return `KEY REQUIRED ${where}: the chains are HMAC-protected; give the key with --hmac-key-file or SOCHDB_AUDIT_HMAC_KEY\n  ${safe(r.problem!.message)}\n`;
  if (!r.ok) return `TAMPERED ${where}\n${r.problems.map((p) => `  ${safe(p.message)}\n`).join('')}  verified: ${r.entries} entries in ${r.chains.length} chain(s)\n`;
  const lines = [`OK ${where}: ${r.entries} entries verified in ${r.chains.length} chain(s), ${r.checkpoints} checkpoint(s)`];
  for (const c of r.chains) lines.push(`  ${safe(c.chainId)}: seq ${c.firstSeq ?? '-'}..${c.lastSeq}, ${c.alg}${c.unanchored ? `, ${c.unanchored} after the last checkpoint` : ''}`);
  if (r.lastCheckpoint) lines.push(`  last checkpoint ${r.lastCheckpoint.id} ${r.lastCheckpoint.hash} (keep them to check later with --anchor ${r.lastCheckpoint.id}:${r.lastCheckpoint.hash})`);
  if (!r.genesis) lines.push('  note: the checkpoints start at a retention checkpoint; older entries were dropped');
  return `${lines.join('\n')}\n`;
}

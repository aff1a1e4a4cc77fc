import pg from 'pg';
import { DEFAULT_SCHEMA } from './postgres-audit-sink.js';
import { streamRecords, type PostgresAuditRecord, type PostgresAuditStreamQuery, type RowIterator } from './stream.js';

/** A read-only view of the audit tables over one connection: what `sochdb-policy-audit query <postgres://...>` uses. */
export interface PostgresAuditReader {
  readonly schema: string;
  /** Matching entries with their chain id, seq, hash and cursor, in keyset pages (see `entries`). One iterator at a time. */
  records(query?: PostgresAuditStreamQuery): RowIterator<PostgresAuditRecord>;
  close(): Promise<void>;
}

/**
 * Connects (any role with SELECT) and returns a reader of the schema's entries, without a
 * writer, chain lock or pool: one connection, pages read in turn.
 */
export async function openAuditReader(connection: string | pg.ClientConfig, options: { schema?: string } = {}): Promise<PostgresAuditReader> {
  if (typeof connection !== 'string' && (connection === null || typeof connection !== 'object')) {
    throw new TypeError('connection must be a postgres:// URL or node-postgres client options');
  }
  const schema = options.schema ?? DEFAULT_SCHEMA;
  if (typeof schema !== 'string' || schema === '' || schema.length > 63) throw new TypeError('options.schema must be a non-empty string of at most 63 characters');
  const client = new pg.Client({ ...(typeof connection === 'string' ? { connectionString: connection } : connection), application_name: 'sochdb-policy-audit' });
  client.on('error', () => {});
  await client.connect();
  return {
    schema,
    records: (query = {}) => streamRecords(client, schema, query),
    close: () => client.end().catch(() => {}),
  };
}

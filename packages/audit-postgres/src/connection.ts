import pg from 'pg';

/** What the schema-level functions accept: a connection string, a client config, or a client or pool of yours. */
export type Connection = string | pg.ClientConfig | pg.ClientBase;

/**
 * Runs `body` with a client: the one given (left open for its owner), or one connected from
 * a connection string or config for this call and ended after it, whatever `body` does.
 */
export async function withClient<T>(connection: Connection, body: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  if (typeof connection !== 'string' && 'query' in connection) return body(connection as pg.ClientBase);
  const client = new pg.Client(typeof connection === 'string' ? { connectionString: connection } : (connection as pg.ClientConfig));
  // Connection errors reach the caller through the failing query; without a listener pg would throw them as uncaught.
  client.on('error', () => {});
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end().catch(() => {});
  }
}

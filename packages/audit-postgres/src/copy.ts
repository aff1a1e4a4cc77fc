import type pg from 'pg';

/** The parts of node-postgres' connection a query object drives (its "submittable" protocol). */
interface Connection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

const COPY_SPECIAL = /[\\\n\r\t]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** A field of COPY's text format: backslash, newline, CR and tab escaped; null as `\N`. */
export function copyField(v: string | number | null): string {
  if (v === null) return '\\N';
  if (typeof v === 'number') return String(v);
  return COPY_SPECIAL.test(v) ? v.replace(/[\\\n\r\t]/g, (c) => COPY_ESCAPES[c]!) : v;
}

/**
 * `COPY ... FROM STDIN` of `data` (rows in COPY's text format) as a node-postgres query object,
 * without a streams library. Sent as a simple query in autocommit, it is one transaction: the
 * server answers CommandComplete only after its COMMIT, and this resolves on the ReadyForQuery
 * after it. A server error rejects (the statement rolled back); so does a lost connection.
 */
class CopyFromStdin {
  callback: ((error: Error | null) => void) | undefined;
  #settled = false;
  constructor(
    readonly text: string,
    readonly data: Buffer,
  ) {}

  #settle(error: Error | null): void {
    if (this.#settled) return;
    this.#settled = true;
    this.callback?.(error);
  }

  submit(connection: Connection): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: Connection): void {
    connection.sendCopyFromChunk(this.data);
    connection.endCopyFrom();
  }

  handleError(error: Error): void {
    this.#settle(error);
  }

  handleReadyForQuery(): void {
    this.#settle(null);
  }

  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}
}

/** Runs `COPY ... FROM STDIN` (`text`) with `data` on `client`; resolves after it committed. */
export function copyFrom(client: pg.Client, text: string, data: Buffer): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const q = new CopyFromStdin(text, data);
    q.callback = (error) => (error ? reject(error) : resolve());
    client.query(q as unknown as pg.QueryConfig);
  });
}

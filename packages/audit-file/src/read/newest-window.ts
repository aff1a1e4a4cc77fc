/** What {@link newestWindow} reads back through: a newest-first cursor. */
export interface NewestFirst {
  nextv(size: number): Promise<readonly unknown[]>;
  readonly cursor: string | undefined;
  close(): Promise<void>;
}

/**
 * Where the newest `limit` entries start, for printing them oldest first in constant memory:
 * reads `back` (the same filters, newest first, limited to `limit` + 1) to its end and answers
 * the cursor just before the oldest of them (undefined: from the first entry) and how many there
 * are. Closes `back`.
 */
export async function newestWindow(back: NewestFirst, limit: number): Promise<{ after: string | undefined; limit: number }> {
  let count = 0;
  let before: string | undefined;
  try {
    for (let rows = await back.nextv(4096); rows.length > 0; rows = await back.nextv(4096)) {
      count += rows.length;
      if (count > limit) before = back.cursor;
    }
  } finally {
    await back.close();
  }
  return { after: before, limit: Math.min(count, limit) };
}

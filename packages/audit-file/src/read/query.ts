import { matchesAuditQuery, normalizeAuditQuery, type AuditEntry, type AuditQuery } from '@sochdb-policy/core';
import { linesBackward } from './line-reader.js';
import { logFiles, releaseAll, sourceOf, type LogFile } from './log-files.js';
import { parseEntryFast, toAuditEntry, type EntryRecord } from '../record.js';

/** An entry as read back with its place in the chain. */
export interface AuditRecordView extends AuditEntry {
  seq: number;
  hash: string;
}

/**
 * The newest `limit` entries matching the query, oldest first, read backwards from the end
 * of the newest file in blocks: memory stays proportional to `limit`, not to the log.
 * Trusts the file; `verify` is what checks it.
 */
export async function queryFiles(files: LogFile[], query: AuditQuery = {}): Promise<AuditRecordView[]> {
  const out: AuditRecordView[] = [];
  try {
    const q = normalizeAuditQuery(query);
    if (q.limit === 0) return out;
    // Newest first, so seqs only go down; a file seen twice (rotated while listing) is skipped.
    let below = Infinity;
    for (let i = files.length - 1; i >= 0; i--) {
      const file = files[i]!;
      files[i] = { ...file, source: undefined };
      const src = await sourceOf(file);
      if (src === undefined) continue; // rotated away while we read
      try {
        const end = file.end ?? (await src.size());
        for await (const line of linesBackward(src, end)) {
          const r = parseEntryFast(line.bytes);
          if (r === undefined || r.seq >= below) continue;
          below = r.seq;
          const entry = toAuditEntry(r);
          if (!matchesAuditQuery(entry, q)) continue;
          out.push(view(r, entry));
          if (out.length === q.limit) return out.reverse();
        }
      } finally {
        await src.close();
      }
    }
    return out.reverse();
  } finally {
    await releaseAll(files);
  }
}

function view(r: EntryRecord, entry: AuditEntry): AuditRecordView {
  return { seq: r.seq, ...entry, hash: r.hash };
}

/** A record as a reader hands it out: the entry (with the decision fields it recorded), its seq and hash. */
export function recordView(r: EntryRecord): AuditRecordView {
  return view(r, toAuditEntry(r));
}

/** {@link queryFiles} over the log at `path` as it is on disk now (no sink needed; the CLI uses it). */
export async function queryAuditLog(path: string, query: AuditQuery = {}): Promise<AuditRecordView[]> {
  if (typeof path !== 'string' || path === '') throw new TypeError('path must be a non-empty string');
  return queryFiles(await logFiles(path), query);
}

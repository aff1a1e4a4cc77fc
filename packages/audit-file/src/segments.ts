import { readdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * File naming: the active file is `path`; rotation renames it to `path.N`, N = 1, 2, 3, ...
 * in rotation order, never renumbered, so a name always means the same file.
 */
export interface RotatedFile {
  path: string;
  n: number;
}

export const rotatedPath = (path: string, n: number): string => `${path}.${n}`;
export const corruptPath = (path: string): string => `${path}.corrupt`;
export const lockPath = (path: string): string => `${path}.lock`;

function pick(path: string, names: string[]): RotatedFile[] {
  const prefix = `${basename(path)}.`;
  const dir = dirname(path);
  const out: RotatedFile[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const rest = name.slice(prefix.length);
    if (/^[1-9][0-9]{0,15}$/.test(rest)) out.push({ path: join(dir, name), n: Number(rest) });
  }
  return out.sort((a, b) => a.n - b.n);
}

/** Rotated files of the log at `path`, oldest first. */
export async function listRotated(path: string): Promise<RotatedFile[]> {
  return pick(path, await readdir(dirname(path)));
}

export function listRotatedSync(path: string): RotatedFile[] {
  return pick(path, readdirSync(dirname(path)));
}

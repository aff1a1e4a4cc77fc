import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export const SECTION_START = '<!-- engine-bench:start (written by `pnpm bench`, packages/bench) -->';
export const SECTION_END = '<!-- engine-bench:end -->';

/**
 * Puts `section` between this benchmark's markers in benchmarks.md, replacing what was there;
 * the rest of the file (other benchmarks' sections) is left as it is.
 */
export function replaceSection(document: string, section: string): string {
  const block = `${SECTION_START}\n${section.trim()}\n${SECTION_END}`;
  const start = document.indexOf(SECTION_START);
  const end = document.indexOf(SECTION_END);
  if (start !== -1 && end > start) return document.slice(0, start) + block + document.slice(end + SECTION_END.length);
  return `${document.trimEnd()}\n\n${block}\n`;
}

export async function writeDocs(docsDir: string, section: string, svg: string, svgName: string): Promise<void> {
  await mkdir(docsDir, { recursive: true });
  const file = join(docsDir, 'benchmarks.md');
  const current = existsSync(file) ? await readFile(file, 'utf8') : '# Benchmarks\n';
  await writeFile(file, replaceSection(current, section));
  await writeFile(join(dirname(file), svgName), svg);
}

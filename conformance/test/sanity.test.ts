import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toBytes } from '../src/bytes.js';
import { SDKS, type Case, type LoadedFile, type Sdk } from '../src/case-types.js';
import { CASES_DIR, CaseFileError, loadCaseFile, ROOT, RULES_FILE } from '../src/load.js';

const files = readdirSync(CASES_DIR).filter((name) => name.endsWith('.json')).sort();
const loaded: LoadedFile[] = files.map((name) => loadCaseFile(join(CASES_DIR, name)));
const allCases: Case[] = loaded.flatMap((f) => f.cases);
const rules: Record<string, string> = JSON.parse(readFileSync(RULES_FILE, 'utf8')).rules;

/** The rule ids of the reference semantics (docs/semantics.md), which rules.json must index. */
const REFERENCE_RULE_IDS = [
  ...['O1', 'O2', 'O3', 'O4', 'O5', 'O6'],
  ...Array.from({ length: 11 }, (_, i) => `H${i + 1}`),
  'C1',
  'C2',
  ...Array.from({ length: 8 }, (_, i) => `P${i + 1}`),
  ...Array.from({ length: 8 }, (_, i) => `R${i + 1}`),
  ...['A1', 'A2', 'A3', 'A4', 'E1', 'E2', 'X1', 'X2', 'K1'],
  // Rules as data (docs/policy-documents.md).
  ...Array.from({ length: 10 }, (_, i) => `D${i + 1}`),
  // Scans, batches and retrieval filtering (issue 14).
  ...Array.from({ length: 8 }, (_, i) => `M${i + 1}`),
];

function duplicates(values: readonly string[]): string[] {
  const seen = new Set<string>();
  return [...new Set(values.filter((v) => seen.has(v) || !seen.add(v)))];
}

describe('case files', () => {
  it.each(files)('%s validates against schema/case-file.schema.json', (name) => {
    // loadCaseFile throws a CaseFileError naming the file and JSON path of every problem.
    expect(() => loadCaseFile(join(CASES_DIR, name))).not.toThrow();
  });

  it('a malformed case fails naming the file and the JSON path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'conformance-sanity-'));
    const path = join(dir, 'broken.json');
    const good = JSON.parse(readFileSync(join(CASES_DIR, 'operations.json'), 'utf8'));
    good.cases[2].steps[0].expect = { value: null, ok: true };
    good.cases[3].steps[0].kee = 'typo';
    writeFileSync(path, JSON.stringify(good));
    let error: unknown;
    try {
      loadCaseFile(path);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CaseFileError);
    const message = (error as Error).message;
    expect(message).toContain('broken.json: /cases/2/steps/0/expect');
    expect(message).toContain('broken.json: /cases/3/steps/0 must NOT have additional properties (kee)');
  });

  it('has one file per area', () => {
    expect(duplicates(loaded.map((f) => f.data.area))).toEqual([]);
    for (const area of ['patterns', 'hooks', 'context', 'operations', 'rate-limits', 'audit', 'errors', 'helpers']) {
      expect(loaded.map((f) => f.data.area)).toContain(area);
    }
  });

  it('has at least 150 cases', () => {
    expect(allCases.length).toBeGreaterThanOrEqual(150);
  });

  it('case ids are unique across all files', () => {
    expect(duplicates(allCases.map((c) => c.id))).toEqual([]);
  });

  it('case descriptions are unique across all files', () => {
    expect(duplicates(allCases.map((c) => c.description))).toEqual([]);
  });

  it('the pattern table has each pattern and key once', () => {
    const table = loaded.find((f) => f.data.area === 'patterns')!.data.table!;
    expect(duplicates(table.map((r) => `${r.pattern}\u0000${toBytes(r.key).toString('hex')}`))).toEqual([]);
  });
});

describe('rules', () => {
  const cited = new Set(allCases.flatMap((c) => c.rules));

  it('rules.json indexes every rule id of the reference semantics', () => {
    expect(REFERENCE_RULE_IDS.filter((id) => !(id in rules))).toEqual([]);
  });

  it('every rule id in rules.json is cited by some case', () => {
    expect(Object.keys(rules).filter((id) => !cited.has(id))).toEqual([]);
  });

  it('every rule a case cites is in rules.json', () => {
    expect([...cited].filter((id) => !(id in rules))).toEqual([]);
  });

  it('every summary is one line', () => {
    expect(Object.entries(rules).filter(([, text]) => text.length === 0 || text.includes('\n'))).toEqual([]);
  });
});

describe('divergences', () => {
  it.each(files)('%s lists only its own cases, each with a one-line reason citing a known rule', (name) => {
    const file = loaded.find((f) => f.file === name)!;
    const ids = new Set(file.cases.map((c) => c.id));
    const problems: string[] = [];
    for (const [sdk, entries] of Object.entries(file.data.divergences ?? {})) {
      if (!SDKS.includes(sdk as Sdk)) problems.push(`unknown SDK ${sdk}`);
      for (const [id, reason] of Object.entries(entries)) {
        if (!ids.has(id)) problems.push(`${sdk}: ${id} is not a case of ${name}`);
        const cites = reason.match(/\b[A-Z]{1,2}\d+\b/g) ?? [];
        if (cites.length === 0 || cites.some((r) => !(r in rules))) problems.push(`${sdk}: ${id}: reason cites no known rule: ${reason}`);
      }
    }
    expect(problems).toEqual([]);
  });

  /**
   * The references build a regular expression from a pattern by escaping `.` and rewriting
   * the stars (rules P3, P6), and Python and Rust match no key that is not UTF-8 (P7). Every
   * pattern row where that translation disagrees with the table must be listed as a
   * divergence for that SDK. (The converse need not hold: a row may diverge for reasons the
   * translation does not show, such as a regex syntax error in one language only.)
   */
  it('pattern rows where the references translate the glob differently are listed', () => {
    const file = loaded.find((f) => f.data.area === 'patterns')!;
    const missing: string[] = [];
    for (const row of file.data.table!) {
      const key = toBytes(row.key);
      for (const sdk of SDKS) {
        const ref = referenceMatch(sdk, row.pattern, key);
        const target = row.error !== undefined ? 'error' : row.matches;
        if (ref !== target && !(row.id in (file.data.divergences?.[sdk] ?? {}))) missing.push(`${sdk}: ${row.id}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

function referenceMatch(sdk: Sdk, pattern: string, key: Buffer): boolean | 'error' {
  if (pattern === '') return key.length === 0;
  const text = key.toString('utf8');
  if ((sdk === 'python' || sdk === 'rust') && !Buffer.from(text, 'utf8').equals(key)) return false;
  let source = pattern.replace(/\./g, '\\.');
  source = sdk === 'python' ? source.replace(/\*/g, '[^/]*').replace(/\*\*/g, '.*') : source.replace(/\*\*/g, '.*').replace(/\*/g, '[^/]*');
  try {
    return new RegExp(`^${source}$`).test(text);
  } catch {
    return 'error';
  }
}

// ---- docs/semantics.md: every rule id cited anywhere resolves there ---------------------------

const REPO = join(ROOT, '..');
const SEMANTICS = join(REPO, 'docs', 'semantics.md');
/** A rule id: O, H, C, P, R, A, E, X, K, D, M or SP and a number from 1 (C0-style names are not ids). */
const RULE_ID = /\b(?:SP|[OHCPRAEXKDM])[1-9]\d?\b/g;

/** Ids with an anchor (`<a id="P3"></a>`) in docs/semantics.md. */
function documentedIds(markdown: string): Set<string> {
  return new Set([...markdown.matchAll(/<a id="((?:SP|[OHCPRAEXKDM])[1-9]\d?)"><\/a>/g)].map((m) => m[1]!));
}

/** Every file that may cite a rule id: the conformance suite, the docs, the package sources. */
function citingFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string, keep: (name: string) => boolean) => {
    for (const name of readdirSync(dir)) {
      if (name === 'node_modules' || name === 'dist' || name.startsWith('.') || name === '__pycache__') continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path, keep);
      else if (keep(name)) out.push(path);
    }
  };
  const text = (name: string) => /\.(ts|mts|js|mjs|json|md|py)$/.test(name);
  walk(ROOT, text);
  walk(join(REPO, 'docs'), (name) => name.endsWith('.md'));
  for (const pkg of readdirSync(join(REPO, 'packages'))) {
    const dir = join(REPO, 'packages', pkg);
    if (!statSync(dir).isDirectory()) continue;
    for (const name of readdirSync(dir)) if (name === 'README.md') out.push(join(dir, name));
    try {
      walk(join(dir, 'src'), text);
    } catch {
      // a package without src/
    }
  }
  out.push(join(REPO, 'README.md'));
  return out;
}

/** `file: id` for every cited id that docs/semantics.md does not document. */
function unresolved(files: readonly string[], documented: ReadonlySet<string>): string[] {
  const missing: string[] = [];
  for (const file of files) {
    const cited = new Set(readFileSync(file, 'utf8').match(RULE_ID) ?? []);
    for (const id of cited) if (!documented.has(id)) missing.push(`${file.slice(REPO.length + 1)}: ${id}`);
  }
  return missing;
}

describe('docs/semantics.md', () => {
  const documented = documentedIds(readFileSync(SEMANTICS, 'utf8'));

  it('documents exactly the rule ids of rules.json, each once', () => {
    const anchors = [...readFileSync(SEMANTICS, 'utf8').matchAll(/<a id="([^"]+)"><\/a>/g)].map((m) => m[1]!);
    expect(duplicates(anchors)).toEqual([]);
    expect([...documented].sort()).toEqual(Object.keys(rules).sort());
  });

  it('every rule id cited in the cases, the conformance suite, the docs and the package sources resolves there', () => {
    const files = citingFiles();
    // The scan really reads the places that cite rules.
    expect(files.some((f) => f.endsWith(join('conformance', 'README.md')))).toBe(true);
    expect(files.some((f) => f.endsWith(join('cases', 'patterns.json')))).toBe(true);
    expect(files.some((f) => f.endsWith(join('docs', 'patterns.md')))).toBe(true);
    expect(unresolved(files, documented)).toEqual([]);
  });

  it('an id that is cited but not documented is reported with its file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'conformance-semantics-'));
    const file = join(dir, 'probe.md');
    const unknown = ['H', '99'].join(''); // spelt apart so that this file cites no unknown id
    writeFileSync(file, `Cites P3 and the unknown rule ${unknown}, but not C0 (a control-character name).`);
    expect(unresolved([file], documented).map((line) => line.split(': ').pop())).toEqual([unknown]);
  });
});

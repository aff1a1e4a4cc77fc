import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Case, CaseFile, LoadedFile, PatternRow } from './case-types.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CASES_DIR = join(ROOT, 'cases');
export const SCHEMA_FILE = join(ROOT, 'schema', 'case-file.schema.json');
export const RULES_FILE = join(ROOT, 'rules.json');

let validator: ValidateFunction | undefined;

/** The case-file schema, compiled once. Strict mode also catches mistakes in the schema itself. */
export function caseFileValidator(): ValidateFunction {
  if (validator) return validator;
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  validator = ajv.compile(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')));
  return validator;
}

export class CaseFileError extends Error {
  override readonly name = 'CaseFileError';
}

/** Schema errors as `file: /json/path message` lines, most specific first. */
export function describeSchemaErrors(file: string, errors: readonly ErrorObject[]): string[] {
  // oneOf/if wrappers repeat what their branches already say; keep the leaf messages.
  const leaves = errors.filter((e) => e.keyword !== 'if' && !(e.keyword === 'oneOf' && errors.some((o) => o !== e && o.instancePath.startsWith(e.instancePath) && o.keyword !== 'oneOf')));
  const shown = leaves.length > 0 ? leaves : errors;
  return [...new Set(shown.map((e) => `${file}: ${e.instancePath || '/'} ${e.message ?? e.keyword}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`))];
}

/** Parses and validates one case file; throws a CaseFileError naming the file and JSON path. */
export function loadCaseFile(path: string): LoadedFile {
  const file = basename(path);
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new CaseFileError(`${file}: not valid JSON: ${(cause as Error).message}`, { cause });
  }
  const validate = caseFileValidator();
  if (!validate(data)) throw new CaseFileError(describeSchemaErrors(file, validate.errors ?? []).join('\n'));
  const parsed = data as CaseFile;
  return { file, data: parsed, cases: parsed.cases ?? (parsed.table ?? []).map(patternCase) };
}

/** Every file in conformance/cases, in name order. */
export function loadAllCaseFiles(dir = CASES_DIR): LoadedFile[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => loadCaseFile(join(dir, name)));
}

/**
 * A pattern row as a case (README, "Pattern table"): a recording `before_read` hook on the
 * pattern, then a `get` of the key, which must or must not run it. An `error` row expects
 * the registration itself to fail.
 */
export function patternCase(row: PatternRow): Case {
  const description = `${JSON.stringify(row.pattern)} ${row.error ? 'is rejected' : row.matches ? 'matches' : 'does not match'} ${JSON.stringify(row.key)}`;
  if (row.error) {
    return {
      id: row.id,
      description,
      rules: row.rules,
      steps: [{ op: 'hook', trigger: 'before_read', pattern: row.pattern, handler: { return: 'allow', record: 'hook' }, expect: { error: row.error } }],
    };
  }
  return {
    id: row.id,
    description,
    rules: row.rules,
    setup: { hooks: [{ trigger: 'before_read', pattern: row.pattern, handler: { return: 'allow', record: 'hook' } }] },
    steps: [{ op: 'get', key: row.key, expect: { value: null, calls: row.matches ? ['hook'] : [] } }],
  };
}

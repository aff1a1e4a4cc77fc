#!/usr/bin/env node
/**
 * `sochdb-policy-conformance --adapters ./my-adapters.mjs [--only TEXT] [--combination TEXT]`
 *
 * Runs every conformance case on the adapters a module exports: named exports `storage`,
 * `rateLimits` and `audit` (lists of adapters, see `Adapter`), or a default export with those
 * keys. A list left out is core's in-memory adapter. Closes with `conformance: N passed, M
 * failed` and exits 1 on any failure (or when nothing ran).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { runConformance, type ConformanceAdapters } from './conformance.js';

const USAGE = 'usage: sochdb-policy-conformance --adapters <module> [--only <text>] [--combination <text>]';

async function main(argv: string[]): Promise<number> {
  let values: { adapters?: string; only?: string; combination?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv.filter((a) => a !== '--'),
      options: { adapters: { type: 'string' }, only: { type: 'string' }, combination: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.adapters === undefined) {
    console.error(`--adapters is required\n${USAGE}`);
    return 2;
  }
  const module = (await import(pathToFileURL(resolve(values.adapters)).href)) as ConformanceAdapters & { default?: ConformanceAdapters };
  const adapters: ConformanceAdapters = {
    storage: module.storage ?? module.default?.storage,
    rateLimits: module.rateLimits ?? module.default?.rateLimits,
    audit: module.audit ?? module.default?.audit,
  };
  for (const [kind, list] of Object.entries(adapters)) {
    if (list !== undefined && !Array.isArray(list)) {
      console.error(`${values.adapters}: \`${kind}\` must be a list of adapters`);
      return 2;
    }
  }
  const report = await runConformance(adapters, { only: values.only, combination: values.combination });
  return report.ok ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));

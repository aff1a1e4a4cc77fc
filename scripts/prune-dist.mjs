#!/usr/bin/env node
/**
 * Run after `tsc` in a package's build: deletes files in dist/ whose source in src/ is gone
 * (renamed or removed modules), so that no stale module is packed. Unlike emptying dist/
 * before tsc, dist/ never disappears, so other processes reading it meanwhile are unaffected.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const dist = join(process.cwd(), 'dist');
const src = join(process.cwd(), 'src');
const OUTPUT = /(\.d\.ts\.map|\.d\.ts|\.js\.map|\.js)$/;

function prune(dir, rel) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      prune(path, join(rel, name));
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
      continue;
    }
    const m = OUTPUT.exec(name);
    if (!m) continue;
    const base = join(src, rel, name.slice(0, -m[1].length));
    if (!['.ts', '.mts', '.cts', '.tsx'].some((ext) => existsSync(base + ext))) rmSync(path);
  }
}

if (existsSync(dist)) prune(dist, '');

#!/usr/bin/env node
import { main } from './cli/main.js';

// The bin: wires the CLI to the process. Ctrl-C (or SIGTERM) ends `tail -f` with exit 0.
const controller = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => controller.abort());
const code = await main(process.argv.slice(2), {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  env: process.env,
}, controller.signal);
process.exitCode = code;

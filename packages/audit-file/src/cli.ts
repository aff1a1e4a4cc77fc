#!/usr/bin/env node
import { main } from './cli/main.js';

// The bin: wires the CLI to the process. Only `tail -f` catches Ctrl-C and SIGTERM, to end
// with exit 0; every other command keeps the default and dies on them, as a long verify or
// a read stuck on a slow disk must.
function stopOnSignal(): AbortSignal {
  const controller = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => controller.abort());
  return controller.signal;
}
// A reader that stops early (`... | head`) closes the pipe: end quietly with exit 0, as
// coreutils do (they die of SIGPIPE), instead of an unhandled EPIPE and a stack trace. Every
// command only reads the log, so there is nothing to finish first.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}
const code = await main(process.argv.slice(2), {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  env: process.env,
  // A pipe or terminal that cannot keep up: wait rather than queue output in memory.
  drain: () => new Promise((resolve) => process.stdout.once('drain', resolve)),
}, stopOnSignal);
process.exitCode = code;

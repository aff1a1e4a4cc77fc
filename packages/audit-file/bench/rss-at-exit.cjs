// Preloaded into the CLI by bench/export.mjs: prints the process's own peak RSS to stderr as it exits.
process.on('exit', () => {
  require('node:fs').writeSync(2, `peak-rss-kb=${process.resourceUsage().maxRSS}\n`);
});

import { runAuditSinkSuite } from '@sochdb-policy/testing';
import { FileAuditSink, type FileAuditSinkOptions } from '../src/index.js';
import { tmpLog } from './helpers.js';

// The core AuditSink contract (rules A2, A3), with reopen: entries survive close and open.
const variants: [string, FileAuditSinkOptions][] = [
  ["FileAuditSink (durability 'always')", {}],
  ["FileAuditSink (durability 'interval')", { durability: 'interval', intervalMs: 5 }],
  ["FileAuditSink (durability 'none')", { durability: 'none' }],
  // Tiny files: every query and reopen crosses rotated files.
  ['FileAuditSink (HMAC, rotating every ~1 KiB)', { hmacKey: 'contract-key', maxBytes: 1024 }],
];

for (const [name, options] of variants) {
  runAuditSinkSuite({
    name,
    factory: () => FileAuditSink.open(tmpLog().path, options),
    reopen: async (sink) => {
      const { path } = sink as FileAuditSink;
      await sink.close?.();
      return FileAuditSink.open(path, options);
    },
    supports: { stream: true, decisionFields: true },
  });
}

// Benchmark of opening and verifying an audit log (issue 16, section 3).
//
// Open: FileAuditSink.open + close of a 1 MB and a 125 MB log (one active file each, as a
// log with a large maxBytes has), interleaved rounds, medians. Floor: the 125 MB open takes
// at most 2x the 1 MB open (open resumes the chain from the end of the file).
//
// Verify: the whole 125 MB log, with the time split into reading (the files, a block at a
// time), hashing (SHA-256 of every line's body) and scanning (recognising runs of canonical
// entries in a block's text, and the chain checks): what is left of verify's time. Two
// earlier ways of verifying are measured in the same run on the same file, reproduced here:
// "before", each line parsed with JSON.parse, written back and compared, the re-serialised
// body hashed (the verifier of 0.1); "previous", each line handed out by an async generator
// and matched on its own (checkLine). Floor: verify at least 2x the MB/s of before.
//
//   node bench/open-verify.mjs            full run (7 rounds), checks the floors
//   node bench/open-verify.mjs --smoke    1 MB and 4 MB, 1 round, no floors (the test suite runs this)
//   options: --rounds N --big-mb N --dir DIR
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FileAuditSink, verifyAuditLog } from '../dist/index.js';
import { ChainCursor } from '../dist/read/chain.js';
import { logBlocks, logFiles, logItems, releaseAll } from '../dist/read/log-files.js';
import { checkLine } from '../dist/read/scan-line.js';
import { parseLine } from '../dist/record.js';
import { makeHasher } from '../dist/hasher.js';

const { values } = parseArgs({ options: { smoke: { type: 'boolean' }, rounds: { type: 'string' }, 'big-mb': { type: 'string' }, dir: { type: 'string' } } });
const smoke = values.smoke ?? false;
const ROUNDS = Number(values.rounds ?? (smoke ? 1 : 7));
const BIG_MB = Number(values['big-mb'] ?? (smoke ? 4 : 125));
const FLOOR_OPEN = 2;
const FLOOR_VERIFY = 2;

const root = mkdtempSync(join(values.dir ?? tmpdir(), 'audit-open-bench-'));
const now = () => performance.now();

/** A log of about `mb` MB of engine entries (with decision fields), in one active file. */
async function makeLog(name, mb) {
  const path = join(root, name);
  const sink = await FileAuditSink.open(path, { durability: 'none', maxBytes: 2 ** 40 });
  for (let i = 0; statSync(path).size < mb * 1e6; ) {
    const batch = [];
    for (let k = 0; k < 1024; k++, i++) {
      const denied = i % 11 === 0;
      batch.push(
        sink.append({
          timestamp: 1_700_000_000_000 + i,
          operation: ['write', 'read', 'delete'][i % 3],
          key: `users/user_${i % 97}/documents/doc_${i}`,
          agentId: `agent_${i % 16}`,
          sessionId: i % 5 === 0 ? null : `session_${i % 7}`,
          result: denied ? 'denied' : 'allowed',
          decisionId: `018bcfe5-6805-7000-8000-${String(i).padStart(12, '0')}`,
          ruleId: denied ? 'block-system' : null,
          appliedRules: denied ? ['block-system'] : [],
        }),
      );
    }
    await Promise.all(batch);
  }
  await sink.close();
  return { path, bytes: statSync(path).size };
}

async function openClose(path) {
  const t0 = now();
  const sink = await FileAuditSink.open(path, { maxBytes: 2 ** 40 });
  const ms = now() - t0;
  await sink.close();
  return ms;
}

/** Runs `perLine` on every line of the log; the time it all took. */
async function pass(path, perLine) {
  const t0 = now();
  const files = await logFiles(path);
  try {
    for await (const item of logItems(files)) if (item.kind === 'line') perLine(item.line.bytes);
  } finally {
    await releaseAll(files);
  }
  return now() - t0;
}

/** Runs `perBlock` on every block of whole lines of the log; the time it all took. */
async function blockPass(path, perBlock) {
  const t0 = now();
  const files = await logFiles(path);
  try {
    for await (const item of logBlocks(files)) if (item.kind === 'block') perBlock(item.block);
  } finally {
    await releaseAll(files);
  }
  return now() - t0;
}

const hasher = makeHasher(undefined);
const PHASES = {
  read: (path) => blockPass(path, () => {}),
  hash: (path) =>
    blockPass(path, ({ buf, end }) => {
      for (let pos = 0; pos < end; ) {
        const nl = buf.indexOf(0x0a, pos);
        hasher.line(buf.subarray(pos, nl));
        pos = nl + 1;
      }
    }),
  verify: async (path) => {
    const t0 = now();
    const r = await verifyAuditLog(path);
    if (!r.ok) throw new Error(`the benchmark log does not verify: ${r.problem.message}`);
    return now() - t0;
  },
  previous: (path) => {
    const cursor = new ChainCursor(hasher);
    let first = true;
    return pass(path, (b) => {
      if (first) cursor.startFile();
      first = false;
      if (cursor.accept(checkLine(b, hasher)) !== undefined) throw new Error('the benchmark log does not verify (previous)');
    });
  },
  lineRead: (path) => pass(path, () => {}),
  previousScan: (path) => pass(path, (b) => checkLine(b, undefined)),
  beforeParse: (path) => pass(path, (b) => parseLine(b, undefined)),
  before: (path) => {
    const cursor = new ChainCursor(hasher);
    let first = true;
    return pass(path, (b) => {
      if (first) cursor.startFile();
      first = false;
      if (cursor.accept(parseLine(b, hasher)) !== undefined) throw new Error('the benchmark log does not verify (before)');
    });
  },
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

try {
  const small = await makeLog('small.log', 1);
  const big = await makeLog('big.log', BIG_MB);
  const opens = { small: [], big: [] };
  const phases = Object.fromEntries(Object.keys(PHASES).map((k) => [k, []]));
  // Interleaved rounds: a busy machine's drift hits every case alike.
  for (let round = 0; round < ROUNDS; round++) {
    opens.small.push(await openClose(small.path));
    opens.big.push(await openClose(big.path));
    for (const [name, run] of Object.entries(PHASES)) phases[name].push(await run(big.path));
  }
  const m = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, median(v)]));
  const mb = big.bytes / 1e6;
  const rate = (ms) => `${(mb / (ms / 1000)).toFixed(0)} MB/s`;
  const pct = (part, whole) => `${((100 * part) / whole).toFixed(0)}%`;
  const openSmall = median(opens.small);
  const openBig = median(opens.big);

  console.log(`\n@sochdb-policy/audit-file open and verify: median of ${ROUNDS} round(s), node ${process.version}${smoke ? ' (smoke: figures mean nothing)' : ''}\n`);
  console.log(`open + close, ${(small.bytes / 1e6).toFixed(1)} MB log   ${openSmall.toFixed(1).padStart(8)} ms`);
  console.log(`open + close, ${mb.toFixed(1)} MB log ${openBig.toFixed(1).padStart(8)} ms`);
  console.log(`\nverify ${mb.toFixed(1)} MB (${big.path}):`);
  const before = m.before;
  const beforeParse = Math.max(0, m.beforeParse - m.lineRead);
  console.log(`  before:   ${before.toFixed(0).padStart(6)} ms ${rate(before).padStart(9)}   reading line by line ${pct(m.lineRead, before)}, parsing + writing back ${pct(beforeParse, before)}, hashing + chain ${pct(Math.max(0, before - m.beforeParse), before)}`);
  const prevScan = Math.max(0, m.previousScan - m.lineRead);
  console.log(`  previous: ${m.previous.toFixed(0).padStart(6)} ms ${rate(m.previous).padStart(9)}   reading line by line ${pct(m.lineRead, m.previous)}, matching each line ${pct(prevScan, m.previous)}, hashing + chain ${pct(Math.max(0, m.previous - m.previousScan), m.previous)}`);
  const hashing = Math.max(0, m.hash - m.read);
  console.log(`  now:      ${m.verify.toFixed(0).padStart(6)} ms ${rate(m.verify).padStart(9)}   reading blocks ${pct(m.read, m.verify)}, hashing ${pct(hashing, m.verify)}, scanning runs + chain ${pct(Math.max(0, m.verify - m.read - hashing), m.verify)}`);
  console.log(`  (reading alone: blocks ${m.read.toFixed(0)} ms, ${rate(m.read)}; line by line ${m.lineRead.toFixed(0)} ms; hashing alone ${hashing.toFixed(0)} ms)`);
  console.log(`  now / previous: ${(m.previous / m.verify).toFixed(2)}x the MB/s`);

  const openRatio = openBig / openSmall;
  const verifyRatio = before / m.verify;
  const checks = [
    [`open ${mb.toFixed(0)} MB / open 1 MB = ${openRatio.toFixed(2)}x (floor: <= ${FLOOR_OPEN}x)`, openRatio <= FLOOR_OPEN],
    [`verify now / before = ${verifyRatio.toFixed(2)}x the MB/s (floor: >= ${FLOOR_VERIFY}x)`, verifyRatio >= FLOOR_VERIFY],
  ];
  console.log('\nFloors:');
  for (const [text, ok] of checks) console.log(`  ${smoke ? 'skipped' : ok ? 'PASS' : 'FAIL'}  ${text}`);
  if (!smoke && checks.some(([, ok]) => !ok)) process.exitCode = 1;
} finally {
  rmSync(root, { recursive: true, force: true });
}

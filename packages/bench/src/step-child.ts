/** `node step-child.js <index> <quick|full>`: runs benchmark `STEPS[index]` alone and prints its rows as JSON (suite.ts, `isolate`). */
import { FULL, QUICK, STEPS } from './suite.js';

const [index, mode] = process.argv.slice(2);
const step = STEPS[Number(index)];
if (step === undefined || (mode !== 'quick' && mode !== 'full')) throw new Error(`usage: step-child.js <0..${STEPS.length - 1}> <quick|full>, got ${process.argv.slice(2).join(' ')}`);
const rows = await step[1](mode === 'quick' ? QUICK : FULL);
process.stdout.write(JSON.stringify(rows));

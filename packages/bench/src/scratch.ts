import { benchFacade } from './facade.js';
const rows = await benchFacade({ ops: Number(process.argv[2] ?? 5000), rounds: Number(process.argv[3] ?? 7), keys: 1000 });
for (const r of rows) console.log(r.name.padEnd(22), r.baselineNs.toFixed(0).padStart(7), r.subjectNs.toFixed(0).padStart(7), r.figure.toFixed(3));

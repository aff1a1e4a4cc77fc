/** `node memory-child.js <mode> <agents>`: prints one {@link MemoryReport} as JSON. */
import { measureMemory, type MemoryMode, type MemoryReport } from './memory-probe.js';

const [mode, agents] = process.argv.slice(2);
const report: MemoryReport = await measureMemory(mode as MemoryMode, Number(agents));
process.stdout.write(JSON.stringify(report));

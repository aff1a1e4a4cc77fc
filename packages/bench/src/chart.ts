import { formatFigure, formatFloor, type Machine } from './report.js';
import { meetsFloor, type Row } from './row.js';

const ROW_HEIGHT = 26;
const LABEL_WIDTH = 330;
const BAR_WIDTH = 360;
const TEXT_WIDTH = 170;
const TOP = 48;

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * A horizontal bar per row with a floor, hand-written SVG: each bar is the figure divided by
 * its floor, so every floor sits on the same line whatever its unit, and a bar that crosses
 * it is a missed floor.
 */
export function svgChart(rows: readonly Row[], m: Machine): string {
  const charted = rows.filter((r) => r.floor !== undefined);
  const scale = Math.max(1.25, ...charted.map((r) => r.figure / r.floor!)) * 1.05;
  const x = (share: number) => LABEL_WIDTH + (share / scale) * BAR_WIDTH;
  const width = LABEL_WIDTH + BAR_WIDTH + TEXT_WIDTH;
  const height = TOP + charted.length * ROW_HEIGHT + 34;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">Engine overhead: figure ÷ floor (the dashed line is the floor)</text>`,
    `<text x="10" y="38" fill="#555">${escape(`${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.date}`)}</text>`,
  ];
  charted.forEach((row, i) => {
    const y = TOP + i * ROW_HEIGHT;
    const share = row.figure / row.floor!;
    const colour = meetsFloor(row) ? '#3a8f4b' : '#c0392b';
    parts.push(
      `<text x="${LABEL_WIDTH - 8}" y="${y + 16}" text-anchor="end">${escape(`${row.group.split('.')[0]}. ${row.name}`)}</text>`,
      `<rect x="${LABEL_WIDTH}" y="${y + 4}" width="${Math.max(1, x(share) - LABEL_WIDTH).toFixed(1)}" height="${ROW_HEIGHT - 8}" fill="${colour}"/>`,
      `<text x="${LABEL_WIDTH + BAR_WIDTH + 8}" y="${y + 16}">${escape(`${formatFigure(row)} (floor ${formatFloor(row)})`)}</text>`,
    );
  });
  const floorX = x(1).toFixed(1);
  const bottom = TOP + charted.length * ROW_HEIGHT;
  parts.push(
    `<line x1="${floorX}" y1="${TOP - 2}" x2="${floorX}" y2="${bottom + 2}" stroke="#000" stroke-dasharray="4 3"/>`,
    `<text x="${floorX}" y="${bottom + 18}" text-anchor="middle" fill="#555">floor</text>`,
    '</svg>',
  );
  return parts.join('\n') + '\n';
}

/** One line of the results table. Every figure is measured against a baseline from the same run. */
export interface Row {
  group: string;
  name: string;
  /** What the subject is compared with. */
  baseline: string;
  /** Median ns/op of the baseline (or its value in `baselineUnit`). */
  baselineNs: number;
  /** Median ns/op of the subject. */
  subjectNs: number;
  /** The figure the floor applies to: a ratio (`x`), nanoseconds (`ns`) or a share of a count. */
  figure: number;
  unit: 'x' | 'ns';
  /** The figure must be at most this; undefined for figures reported for information. */
  floor: number | undefined;
  /** Extra context printed under the table. */
  note?: string;
}

export function meetsFloor(row: Row): boolean | undefined {
  return row.floor === undefined ? undefined : row.figure <= row.floor;
}

/** Index of the `]` closing a class opened at `open`, or -1 when the `[` is literal. */
export function classEnd(pattern: string, open: number): number {
  let j = open + 1;
  if (pattern[j] === '!' || pattern[j] === '^') j++;
  if (pattern[j] === ']') j++;
  for (; j < pattern.length; j++) {
    if (pattern[j] === '\\') j++;
    else if (pattern[j] === '/') return -1;
    else if (pattern[j] === ']') return j;
  }
  return -1;
}

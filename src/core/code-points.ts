/**
 * How many characters a client wrote, counted as Unicode code points: "😀"
 * is one character in two UTF-16 units, so `text.length` would say two.
 */
export function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

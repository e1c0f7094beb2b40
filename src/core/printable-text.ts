/**
 * Characters no name or id a client chooses may hold: C0 and C1 controls,
 * DEL, the bidi embedding, override and isolate marks, and the line and
 * paragraph separators. Such text is written into answers, logs and
 * terminals: an escape sequence would redraw a reader's screen, a newline
 * forge a line, an override reverse what the reader sees.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** The first character of `text` that {@link UNPRINTABLE} names, as "U+001B" with its 1-based position; undefined when none. */
export function firstUnprintable(text: string): { readonly code: string; readonly position: number } | undefined {
  const found = UNPRINTABLE.exec(text);
  if (found === null) return undefined;
  const code = `U+${(found[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
  return { code, position: found.index + 1 };
}

/**
 * Tables for the terminal and for Markdown, from a header and rows of
 * cells; `right` names the columns (by index) that hold numbers and are
 * aligned right.
 */

/** An aligned text table with a rule under the header. */
export function alignedTable(header: readonly string[], body: readonly (readonly string[])[], right: ReadonlySet<number>): string {
  const rows = [header, ...body];
  const widths = header.map((_, index) => Math.max(...rows.map((cells) => (cells[index] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, index) => (right.has(index) ? cell.padStart(widths[index]!) : cell.padEnd(widths[index]!)))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((width) => "-".repeat(width)).join("  "), ...body.map(line)].join("\n");
}

/** The same table in Markdown. */
export function markdownTableOf(header: readonly string[], body: readonly (readonly string[])[], right: ReadonlySet<number>): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(" | ")} |`;
  const rule = header.map((_, index) => (right.has(index) ? "---:" : "---"));
  return [line(header), line(rule), ...body.map(line)].join("\n");
}

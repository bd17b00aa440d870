/**
 * One csv cell whose text came from the log (a file name, an exe, a user name from a USER
 * message, a node name, a container's name): what a container process writes must stay one
 * cell and must never be run as a spreadsheet formula. ausearch 3.0.9 prints such cells as
 * they are, so a comma splits the row and `=HYPERLINK(…)` is a live formula in the analyst's
 * spreadsheet. contid prints a cell that needs no treatment exactly as ausearch does, and
 * otherwise:
 *
 * - a cell with a comma, a double quote, a semicolon (the separator of spreadsheets in many
 *   locales) or a line break is quoted as RFC 4180 says: `"…"`, each `"` doubled;
 * - a cell that begins with `=`, `+`, `-`, `@`, TAB or CR (a formula to Excel, LibreOffice and
 *   Google Sheets) is quoted and begins with `'`, as OWASP's CSV Injection page recommends;
 * - the same `'` goes after a `;` that is followed by one of those characters, where a
 *   spreadsheet that splits on `;` would begin a cell.
 *
 * The argument is latin1 (one char per byte) or text; only ASCII is looked at.
 */
const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",;\r\n]/;
const FORMULA_AFTER_SEMICOLON = /;(?=[=+\-@\t\r])/g;

export function csvCell(value: string): string {
  const formula = FORMULA_START.test(value);
  if (!formula && !NEEDS_QUOTES.test(value)) return value;
  const inner = value.replace(/"/g, '""').replace(FORMULA_AFTER_SEMICOLON, ";'");
  return formula ? `"'${inner}"` : `"${inner}"`;
}

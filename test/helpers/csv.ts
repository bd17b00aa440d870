/**
 * What a spreadsheet or a csv library reads from contid's csv: RFC 4180 fields (a quoted field
 * may hold commas, semicolons and doubled quotes), and the cells a spreadsheet would run as a
 * formula. Written for the tests, independently of the code that quotes.
 */

/** The fields of one csv line, RFC 4180 (no line breaks inside: contid escapes them). */
export function readCsvLine(line: string): string[] {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    let cell = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw new Error(`unterminated quoted field in ${JSON.stringify(line)}`);
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            cell += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        cell += line[i++];
      }
      if (i < line.length && line[i] !== ',') throw new Error(`text after a closing quote at ${i} in ${JSON.stringify(line)}`);
    } else {
      while (i < line.length && line[i] !== ',') {
        if (line[i] === '"') throw new Error(`a quote inside an unquoted field at ${i} in ${JSON.stringify(line)}`);
        cell += line[i++];
      }
    }
    cells.push(cell);
    if (i >= line.length) return cells;
    i++; // the comma
  }
}

/** A cell Excel, LibreOffice or Google Sheets would take as a formula (OWASP's list). */
export const isFormula = (cell: string): boolean => /^[=+\-@\t\r]/.test(cell);

/**
 * The cells a spreadsheet that splits on ';' (its separator in many locales) would begin
 * inside this cell: each text after a ';'.
 */
export const semicolonCells = (cell: string): string[] => cell.split(';').slice(1);

/** A cell's text as ausearch printed it: contid's formula guard (a leading `'`, `'` after `;`) removed. */
export const unguarded = (cell: string): string =>
  (/^'[=+\-@\t\r]/.test(cell) ? cell.slice(1) : cell).replace(/;'(?=[=+\-@\t\r])/g, ';');

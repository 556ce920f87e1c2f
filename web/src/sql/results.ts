// Structured SQL results (docs/protocol.md, "Structured SQL results"): the
// `sql_result` frames of a run that asked for them, how a table shows their
// cells, the problems their errors are, the dialects a `.sql` file can run
// on, and the schema panel's query. Pure data in, data out; the values are
// the boxed program's and are only ever rendered as text.

import type { Runtime } from '../api/client';
import type { Problem } from '../problems/parse';

/** A value: SQL NULL, the whole text, a cut text, or the hex of a value that is not UTF-8. */
export type SqlCell = null | string | { text: string; bytes: number } | { hex: string; bytes: number };

export interface SqlColumn {
  name: string;
  type: string;
}

export interface SqlError {
  message: string;
  code?: string | null;
  line: number;
  column?: number | null;
}

/** One result of one statement (crates/server/src/sql_results.rs). */
export interface SqlResult {
  statement: number;
  line: number;
  end_line: number;
  text: string;
  command?: string | null;
  columns?: SqlColumn[] | null;
  rows?: SqlCell[][] | null;
  row_count?: number | null;
  truncated?: boolean;
  affected_rows?: number | null;
  notices?: string[];
  error?: SqlError | null;
}

/** Results kept per console: the server sends at most 1000 per run. */
export const MAX_RESULTS = 1000;
/** Characters a table cell shows before it is cut (the whole value is in its title and expander). */
export const CELL_CHARS = 120;

export interface ShownCell {
  kind: 'null' | 'text' | 'cut' | 'binary';
  /** What the cell shows. */
  text: string;
  /** The whole value as far as the IDE has it (hover, expand, copy). */
  full: string;
  /** The cell shows less than the value. */
  truncated: boolean;
}

/** How a table shows a cell. */
export function showCell(cell: SqlCell, chars = CELL_CHARS): ShownCell {
  if (cell === null || cell === undefined) return { kind: 'null', text: 'NULL', full: 'NULL', truncated: false };
  if (typeof cell === 'string') {
    const cut = cell.length > chars || cell.includes('\n');
    const firstLine = cell.split('\n', 1)[0];
    const text = cut ? `${firstLine.slice(0, chars)}…` : cell;
    return { kind: 'text', text, full: cell, truncated: cut };
  }
  if ('hex' in cell) {
    const full = `0x${cell.hex}${cell.hex.length / 2 < cell.bytes ? '…' : ''}`;
    const text = full.length > chars ? `${full.slice(0, chars)}…` : full;
    return { kind: 'binary', text, full: `${full} (${cell.bytes} bytes)`, truncated: true };
  }
  const text = `${cell.text.split('\n', 1)[0].slice(0, chars)}…`;
  return { kind: 'cut', text, full: `${cell.text}… (${cell.bytes} bytes in all)`, truncated: true };
}

const NUMERIC = /^(tinyint|smallint|mediumint|int|integer|bigint|int2|int4|int8|decimal|numeric|float|float4|float8|double|real|money|oid|year)\b/i;

/** Whether a column's values are numbers (right-aligned). */
export function isNumericType(type: string): boolean {
  return NUMERIC.test(type.trim());
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** The line under a statement's table: its rows, rows affected, or its command. */
export function resultSummary(result: SqlResult): string {
  if (result.error) return `Error${result.error.code ? ` ${result.error.code}` : ''}: ${result.error.message}`;
  if (result.columns) {
    const total = result.row_count ?? result.rows?.length ?? 0;
    const shown = result.rows?.length ?? 0;
    const rows = plural(total, 'row', 'rows');
    return result.truncated && shown < total ? `${rows} (the first ${shown} shown)` : rows;
  }
  if (typeof result.affected_rows === 'number') return `${plural(result.affected_rows, 'row', 'rows')} affected`;
  return result.command || 'Done';
}

/** The errors of a run's results as problems of `file` (the editor's marks and the Problems list). */
export function problemsOfResults(results: SqlResult[], file: string): Problem[] {
  return results
    .filter((r) => r.error)
    .map((r) => ({
      file,
      line: r.error!.line || r.line,
      column: r.error!.column ?? null,
      severity: 'error' as const,
      message: r.error!.message,
      source: 'sql',
    }));
}

/** The languages a `.sql` file can run on here: the catalog's, installed on this server. */
export function sqlDialects(languages: Runtime[]): Runtime[] {
  return languages.filter((l) => l.available && l.extensions.includes('sql'));
}

/** Whether a run of `language` asks for structured results. */
export function wantsSqlResults(languages: Runtime[], language: string | undefined): boolean {
  return !!language && !!languages.find((l) => l.id === language)?.sql_results;
}

/** The query that lists the session database's tables and columns, by dialect. */
export function schemaQuery(language: string): string {
  if (language === 'sqlite') {
    // Tables only (no views, no SQLite's own), each column with its declared type.
    return (
      'SELECT m.name AS table_name, c.name AS column_name, c.type AS data_type ' +
      "FROM sqlite_schema AS m JOIN pragma_table_info(m.name) AS c WHERE m.type = 'table' " +
      "AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY m.name, c.cid;\n"
    );
  }
  const where =
    language === 'mysql'
      ? 'table_schema = DATABASE()'
      : "table_schema NOT IN ('pg_catalog', 'information_schema')";
  return `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE ${where} ORDER BY table_name, ordinal_position;\n`;
}

export interface SchemaTable {
  name: string;
  columns: SqlColumn[];
}

/** The schema query's result as tables of columns. */
export function schemaOf(results: SqlResult[]): SchemaTable[] {
  const rows = results.find((r) => r.columns && r.columns.length >= 3)?.rows ?? [];
  const tables: SchemaTable[] = [];
  for (const row of rows) {
    const [table, column, type] = row.map((cell) => (typeof cell === 'string' ? cell : ''));
    if (!table) continue;
    let last = tables[tables.length - 1];
    if (!last || last.name !== table) tables.push((last = { name: table, columns: [] }));
    last.columns.push({ name: column, type });
  }
  return tables;
}

/** A cell's value as copied: the whole text the IDE has (null for NULL). */
function copiedValue(cell: SqlCell): string | null {
  if (cell === null || cell === undefined) return null;
  if (typeof cell === 'string') return cell;
  return 'hex' in cell ? `\\x${cell.hex}` : cell.text;
}

/**
 * A table as text to paste: CSV (RFC 4180: fields with a comma, quote or
 * line break quoted, quotes doubled; NULL is an empty field) or TSV (as
 * PostgreSQL's COPY text format: tab, newline, carriage return and
 * backslash escaped with a backslash, NULL as `\N`). A header line first.
 */
export function tableText(columns: SqlColumn[], rows: SqlCell[][], format: 'csv' | 'tsv'): string {
  const field =
    format === 'csv'
      ? (value: string | null) => (value === null ? '' : /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value)
      : (value: string | null) =>
          value === null
            ? '\\N'
            : value.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!);
  const separator = format === 'csv' ? ',' : '\t';
  const lines = [columns.map((c) => field(c.name)), ...rows.map((row) => row.map((cell) => field(copiedValue(cell))))];
  return lines.map((line) => line.join(separator)).join(format === 'csv' ? '\r\n' : '\n') + (format === 'csv' ? '\r\n' : '\n');
}

export type SortOrder = { column: number; descending: boolean } | null;

/**
 * Rows sorted by one column: as numbers for a numeric column, else as text;
 * NULL last either way. The rows given are not changed.
 */
export function sortRows(rows: SqlCell[][], order: SortOrder, numeric: boolean): SqlCell[][] {
  if (!order) return rows;
  const { column, descending } = order;
  const key = (row: SqlCell[]) => copiedValue(row[column] ?? null);
  const compare = (a: string, b: string) => {
    if (numeric) {
      const difference = Number(a) - Number(b);
      if (!Number.isNaN(difference) && difference !== 0) return difference;
    }
    return a < b ? -1 : a > b ? 1 : 0;
  };
  return rows
    .map((row, index) => ({ row, index, value: key(row) }))
    .sort((x, y) => {
      if (x.value === null || y.value === null) {
        if (x.value === y.value) return x.index - y.index;
        return x.value === null ? 1 : -1;
      }
      const by = compare(x.value, y.value);
      return (descending ? -by : by) || x.index - y.index;
    })
    .map((entry) => entry.row);
}

// One result set as a table: a sticky header with each column's type (a
// click sorts by it), NULL drawn apart from text, numbers right-aligned,
// long values cut with the whole value in the cell's title and shown in
// full on click, and buttons that copy the table as CSV or TSV (all rows,
// in the order shown). A long result is paged (the server sends at most
// 1000 rows; the summary under the table says when it had more); the values
// are text, never HTML.

import { useMemo, useState } from 'react';
import { Icon } from '../Icons/Icon';
import { isNumericType, showCell, sortRows, tableText, type SortOrder, type SqlColumn, type SqlCell } from '../../sql/results';

/** Rows on one page of a long result. */
export const PAGE_ROWS = 100;

/** The page `page` (from 0, clamped) of `total` rows: its first row, the row after its last, and the page count. */
export function pageBounds(total: number, page: number, size = PAGE_ROWS): { start: number; end: number; pages: number; page: number } {
  const pages = Math.max(1, Math.ceil(total / size));
  const clamped = Math.min(Math.max(0, page), pages - 1);
  const start = clamped * size;
  return { start, end: Math.min(total, start + size), pages, page: clamped };
}

export function ResultTable({ columns, rows }: { columns: SqlColumn[]; rows: SqlCell[][] }) {
  const [page, setPage] = useState(0);
  const [expanded, setExpanded] = useState<string | null>(null);
  const [order, setOrder] = useState<SortOrder>(null);
  const [copied, setCopied] = useState<string | null>(null);
  const numeric = columns.map((c) => isNumericType(c.type));
  const sorted = useMemo(() => sortRows(rows, order, order ? numeric[order.column] : false), [rows, order, numeric]);
  const bounds = pageBounds(sorted.length, page);
  const shown = sorted.slice(bounds.start, bounds.end);
  // Ascending, descending, then as the server sent them; from the first page.
  const sortBy = (column: number) => {
    setOrder((last) => (last?.column !== column ? { column, descending: false } : last.descending ? null : { column, descending: true }));
    setPage(0);
    setExpanded(null);
  };
  const goTo = (next: number) => {
    setPage(pageBounds(sorted.length, next).page);
    setExpanded(null);
  };
  const copy = (format: 'csv' | 'tsv') => {
    void navigator.clipboard
      ?.writeText(tableText(columns, sorted, format))
      .then(() => setCopied(`Copied ${sorted.length} rows as ${format.toUpperCase()}`))
      .catch(() => setCopied('The browser did not allow copying'));
  };
  return (
    <div className="sql-table-block">
      <div className="sql-table-actions">
        <button type="button" onClick={() => copy('csv')}>
          Copy CSV
        </button>
        <button type="button" onClick={() => copy('tsv')}>
          Copy TSV
        </button>
        {copied && (
          <span className="muted" role="status">
            {copied}
          </span>
        )}
      </div>
      <div className="sql-table-wrap">
      <table className="sql-table">
        <thead>
          <tr>
            {columns.map((c, i) => (
              <th
                key={i}
                scope="col"
                className={numeric[i] ? 'num' : undefined}
                title={`${c.type}: click to sort`}
                aria-sort={order?.column === i ? (order.descending ? 'descending' : 'ascending') : undefined}
                onClick={() => sortBy(i)}
              >
                {c.name}
                <span className="sql-type">{c.type}</span>
                {order?.column === i && <Icon name={order.descending ? 'chevronDown' : 'chevronUp'} />}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {shown.map((row, r) => (
            <tr key={bounds.start + r}>
              {row.map((value, c) => {
                const cell = showCell(value);
                const key = `${bounds.start + r}:${c}`;
                const open = expanded === key;
                const classes = [cell.kind === 'null' ? 'null' : '', numeric[c] ? 'num' : '', cell.truncated ? 'cut' : '']
                  .filter(Boolean)
                  .join(' ');
                return (
                  <td
                    key={c}
                    className={classes || undefined}
                    title={cell.truncated ? cell.full : undefined}
                    onClick={cell.truncated ? () => setExpanded(open ? null : key) : undefined}
                  >
                    {open ? <pre className="sql-full">{cell.full}</pre> : cell.text}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      </div>
      {bounds.pages > 1 && (
        <nav className="sql-pages" aria-label="Result pages">
          <button type="button" onClick={() => goTo(0)} disabled={bounds.page === 0} title="First page">
            «
          </button>
          <button type="button" onClick={() => goTo(bounds.page - 1)} disabled={bounds.page === 0}>
            ‹ Previous
          </button>
          <span className="muted">
            Rows {bounds.start + 1}–{bounds.end} of {sorted.length} (page {bounds.page + 1} of {bounds.pages})
          </span>
          <button type="button" onClick={() => goTo(bounds.page + 1)} disabled={bounds.page === bounds.pages - 1}>
            Next ›
          </button>
          <button type="button" onClick={() => goTo(bounds.pages - 1)} disabled={bounds.page === bounds.pages - 1} title="Last page">
            »
          </button>
        </nav>
      )}
    </div>
  );
}

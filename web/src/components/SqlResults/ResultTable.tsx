// One result set as a table: a sticky header with each column's type (a
// click sorts by it), NULL drawn apart from text, numbers right-aligned,
// long values cut with the whole value in the cell's title and shown in
// full on click, and buttons that copy the table as CSV or TSV. A long
// result shows its first rows and a button for the rest (the server sends
// at most 1000); the values are text, never HTML.

import { useMemo, useState } from 'react';
import { Icon } from '../Icons/Icon';
import { isNumericType, showCell, sortRows, tableText, type SortOrder, type SqlColumn, type SqlCell } from '../../sql/results';

/** Rows drawn before "Show all". */
export const FIRST_ROWS = 200;

export function ResultTable({ columns, rows }: { columns: SqlColumn[]; rows: SqlCell[][] }) {
  const [all, setAll] = useState(false);
  const [expanded, setExpanded] = useState<string | null>(null);
  const [order, setOrder] = useState<SortOrder>(null);
  const [copied, setCopied] = useState<string | null>(null);
  const numeric = columns.map((c) => isNumericType(c.type));
  const sorted = useMemo(() => sortRows(rows, order, order ? numeric[order.column] : false), [rows, order, numeric]);
  const shown = all ? sorted : sorted.slice(0, FIRST_ROWS);
  // Ascending, descending, then as the server sent them.
  const sortBy = (column: number) =>
    setOrder((last) => (last?.column !== column ? { column, descending: false } : last.descending ? null : { column, descending: true }));
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
            <tr key={r}>
              {row.map((value, c) => {
                const cell = showCell(value);
                const key = `${r}:${c}`;
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
      {rows.length > shown.length && (
        <button type="button" className="sql-more" onClick={() => setAll(true)}>
          Showing the first {shown.length} of {rows.length} rows: show all
        </button>
      )}
    </div>
  );
}

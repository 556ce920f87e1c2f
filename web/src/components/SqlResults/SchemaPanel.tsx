// The schema panel: the tables and columns of the session's database in
// the dialect of the console's run, and the Reset button.

import { useStore } from '../../hooks';
import type { SqlSessionStore } from '../../store/sqlSession';

export function SchemaPanel({
  store,
  language,
  onReset,
}: {
  store: SqlSessionStore;
  language: string;
  onReset: () => void;
}) {
  const { schema, loading, resetting, error } = useStore(store);
  const tables = schema[language];
  return (
    <aside className="sql-schema" aria-label="Schema">
      <header>
        <strong>Schema</strong>
        <button type="button" className="danger" onClick={onReset} disabled={resetting}>
          {resetting ? 'Resetting…' : 'Reset database'}
        </button>
      </header>
      {error && <p className="sql-schema-error" role="alert">{error}</p>}
      {loading === language && !tables && <p className="muted">Reading…</p>}
      {tables && tables.length === 0 && <p className="muted">No tables yet.</p>}
      {tables?.map((table) => (
        <details key={table.name} open className="sql-schema-table">
          <summary>{table.name}</summary>
          <ul>
            {table.columns.map((column) => (
              <li key={column.name}>
                {column.name} <span className="sql-type">{column.type}</span>
              </li>
            ))}
          </ul>
        </details>
      ))}
    </aside>
  );
}

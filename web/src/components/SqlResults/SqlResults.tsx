// A SQL run's results in its console: one table per result set under its
// statement (its line links to the editor), each with its row count, "N rows
// affected" or its error, and the schema panel beside them.

import { isActive, type ConsoleState } from '../../store/consoles';
import type { SqlSessionStore } from '../../store/sqlSession';
import { resultSummary } from '../../sql/results';
import type { SourceLocation } from '../Problems/Problems';
import { ResultTable } from './ResultTable';
import { SchemaPanel } from './SchemaPanel';
import { useSchemaRefresh } from './useSchemaRefresh';

export interface SqlSession {
  store: SqlSessionStore;
  /** Asks the user (the IDE's dialog). */
  confirm: (title: string, message: string, confirm: string) => Promise<boolean>;
}

export function SqlResults({
  console,
  session,
  onJump,
}: {
  console: ConsoleState;
  session: SqlSession;
  onJump: (at: SourceLocation) => void;
}) {
  useSchemaRefresh(session.store, console);
  const results = console.sqlResults ?? [];
  const reset = async () => {
    const ok = await session.confirm(
      'Reset the database?',
      'Every table and row of this session’s databases (MySQL, PostgreSQL, SQLite) is dropped.',
      'Reset database',
    );
    if (ok && (await session.store.reset()) && console.language) void session.store.refresh(console.language);
  };
  return (
    <div className="sql-results" data-testid="sql-results">
      <div className="sql-statements">
        {results.length === 0 && <p className="muted">{isActive(console) ? 'Running…' : 'No results.'}</p>}
        {results.map((result, i) => (
          <section key={i} className={`sql-statement${result.error ? ' failed' : ''}`} data-line={result.line}>
            <button
              type="button"
              className="sql-statement-head"
              title="Show in the editor"
              onClick={() => onJump({ file: console.title, line: result.error?.line ?? result.line, column: result.error?.column ?? null })}
            >
              <span className="sql-line">Line {result.line}</span>
              <code>{result.text}</code>
            </button>
            {result.columns && result.rows && <ResultTable columns={result.columns} rows={result.rows} />}
            <div className={`sql-summary${result.error ? ' error' : ''}`} role={result.error ? 'alert' : undefined}>
              {result.error ? `Line ${result.error.line}: ` : ''}
              {resultSummary(result)}
            </div>
            {result.notices?.map((notice, n) => (
              <div key={n} className="sql-notice">
                {notice}
              </div>
            ))}
          </section>
        ))}
      </div>
      {console.language && <SchemaPanel store={session.store} language={console.language} onReset={reset} />}
    </div>
  );
}

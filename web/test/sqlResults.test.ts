// Structured SQL results in the IDE (issue 15): cells, summaries, the
// problems of failed statements, the dialect picker's list, the run request,
// the console's state and the table's markup.
import { describe, expect, it } from 'vitest';
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import {
  CELL_CHARS,
  isNumericType,
  problemsOfResults,
  resultSummary,
  schemaOf,
  schemaQuery,
  showCell,
  sortRows,
  sqlDialects,
  tableText,
  wantsSqlResults,
  type SqlResult,
} from '../src/sql/results';
import { ResultTable, PAGE_ROWS, pageBounds } from '../src/components/SqlResults/ResultTable';
import { applyMessage, newConsole, type ConsoleState } from '../src/store/consoles';
import { runRequestOf } from '../src/files';
import { makeProject } from '../src/store/project';
import { catalogRuntimes } from './catalog';
import { BytesboxClient } from '../src/protocol/client';
import { OpenSocket } from './opensocket';
import { SqlSessionStore } from '../src/store/sqlSession';

const select: SqlResult = {
  statement: 2,
  line: 4,
  end_line: 4,
  text: 'SELECT id, body FROM t;',
  command: 'SELECT 3',
  columns: [
    { name: 'id', type: 'int4' },
    { name: 'body', type: 'text' },
  ],
  rows: [
    ['1', 'a,b|c'],
    ['2', null],
    ['3', ''],
  ],
  row_count: 3,
  truncated: false,
};

const failed: SqlResult = {
  statement: 3,
  line: 5,
  end_line: 7,
  text: 'SELECT id,\n  body\n  FROMM t;',
  error: { message: 'syntax error at or near "t"', code: '42601', line: 7, column: 9 },
};

describe('cells', () => {
  it('tell NULL from an empty string and keep values as text', () => {
    expect(showCell(null)).toEqual({ kind: 'null', text: 'NULL', full: 'NULL', truncated: false });
    expect(showCell('')).toEqual({ kind: 'text', text: '', full: '', truncated: false });
    expect(showCell('<b>NULL</b>')).toMatchObject({ kind: 'text', text: '<b>NULL</b>', truncated: false });
  });

  it('cut long and multi-line values, keeping the whole value for hover and expand', () => {
    const long = 'x'.repeat(CELL_CHARS + 10);
    expect(showCell(long)).toEqual({ kind: 'text', text: `${'x'.repeat(CELL_CHARS)}…`, full: long, truncated: true });
    expect(showCell('two\nlines')).toEqual({ kind: 'text', text: 'two…', full: 'two\nlines', truncated: true });
    const cut = showCell({ text: 'abc', bytes: 10000 });
    expect(cut).toMatchObject({ kind: 'cut', text: 'abc…', truncated: true });
    expect(cut.full).toBe('abc… (10000 bytes in all)');
  });

  it('show binary values as hex with their size', () => {
    expect(showCell({ hex: '00ff', bytes: 2 })).toMatchObject({ kind: 'binary', text: '0x00ff', full: '0x00ff (2 bytes)' });
    expect(showCell({ hex: '00', bytes: 5000 }).full).toBe('0x00… (5000 bytes)');
  });

  it('right-align the number types of both servers', () => {
    for (const type of ['int4', 'int8', 'numeric', 'float8', 'int', 'bigint', 'decimal', 'double']) expect(isNumericType(type)).toBe(true);
    for (const type of ['text', 'varchar', 'bytea', 'date', 'interval', 'json']) expect(isNumericType(type)).toBe(false);
  });
});

describe('summaries and problems', () => {
  it('say the rows, the rows affected, the command or the error', () => {
    expect(resultSummary(select)).toBe('3 rows');
    expect(resultSummary({ ...select, rows: [['1', 'x']], row_count: 5000, truncated: true })).toBe('5000 rows (the first 1 shown)');
    expect(resultSummary({ ...select, columns: null, rows: null, affected_rows: 1 })).toBe('1 row affected');
    expect(resultSummary({ ...select, columns: null, rows: null, command: 'CREATE TABLE' })).toBe('CREATE TABLE');
    expect(resultSummary(failed)).toBe('Error 42601: syntax error at or near "t"');
  });

  it('mark a failed statement on the line its error points at', () => {
    expect(problemsOfResults([select, failed], 'main.sql')).toEqual([
      { file: 'main.sql', line: 7, column: 9, severity: 'error', message: 'syntax error at or near "t"', source: 'sql' },
    ]);
  });

  it('read the schema query into tables of columns', () => {
    const schema: SqlResult = {
      ...select,
      columns: [
        { name: 'table_name', type: 'name' },
        { name: 'column_name', type: 'name' },
        { name: 'data_type', type: 'varchar' },
      ],
      rows: [
        ['a', 'id', 'integer'],
        ['a', 'x', 'text'],
        ['b', 'y', 'date'],
      ],
    };
    expect(schemaOf([schema])).toEqual([
      { name: 'a', columns: [{ name: 'id', type: 'integer' }, { name: 'x', type: 'text' }] },
      { name: 'b', columns: [{ name: 'y', type: 'date' }] },
    ]);
    expect(schemaQuery('mysql')).toContain('DATABASE()');
    expect(schemaQuery('postgresql')).toContain('pg_catalog');
    expect(schemaQuery('sqlite')).toContain('pragma_table_info');
  });
});

describe('copying and sorting a table', () => {
  const columns = [
    { name: 'n', type: 'int4' },
    { name: 'text, "quoted"', type: 'text' },
  ];
  const rows: SqlResult['rows'] = [
    ['10', 'a,b'],
    ['9', 'say "hi"\nnow'],
    [null, 'tab\there \\ back'],
    ['-1', null],
  ];

  it('copies CSV with quoted fields and NULL as an empty field', () => {
    expect(tableText(columns, rows!, 'csv')).toBe(
      'n,"text, ""quoted"""\r\n10,"a,b"\r\n9,"say ""hi""\nnow"\r\n,tab\there \\ back\r\n-1,\r\n',
    );
  });

  it("copies TSV escaped as PostgreSQL's COPY text, NULL as \\N", () => {
    expect(tableText(columns, rows!, 'tsv')).toBe(
      'n\ttext, "quoted"\n10\ta,b\n9\tsay "hi"\\nnow\n\\N\ttab\\there \\\\ back\n-1\t\\N\n',
    );
  });

  it('sorts numbers as numbers and text as text, NULL last, and keeps the rows given', () => {
    const first = (sorted: typeof rows) => sorted!.map((row) => row[0]);
    expect(first(sortRows(rows!, { column: 0, descending: false }, true))).toEqual(['-1', '9', '10', null]);
    expect(first(sortRows(rows!, { column: 0, descending: true }, true))).toEqual(['10', '9', '-1', null]);
    expect(first(sortRows(rows!, { column: 0, descending: false }, false))).toEqual(['-1', '10', '9', null]);
    expect(sortRows(rows!, null, true)).toBe(rows);
    expect(first(rows)).toEqual(['10', '9', null, '-1']);
  });
});

describe('dialects and the run request', () => {
  const languages = catalogRuntimes();

  it('offer the catalog languages of .sql files that are installed', () => {
    expect(sqlDialects(languages).map((l) => l.id).sort()).toEqual(['mysql', 'postgresql', 'sqlite']);
    const noMaria = languages.map((l) => (l.id === 'mysql' ? { ...l, available: false } : l));
    expect(sqlDialects(noMaria).map((l) => l.id)).not.toContain('mysql');
  });

  it('ask the SQL runtimes, and only them, for structured results', () => {
    const asked = ['postgresql', 'mysql', 'sqlite', 'python', undefined].map((l) => wantsSqlResults(languages, l));
    expect(asked).toEqual([true, true, true, false, false]);
    const project = { ...makeProject('q', { 'main.sql': 'SELECT 1;' }, 'main.sql'), language: 'postgresql' };
    expect(runRequestOf(project, languages)).toMatchObject({ entry: 'main.sql', language: 'postgresql', sql_results: true });
    // A .sql file with no dialect set is SQLite's.
    expect(runRequestOf({ ...project, language: null }, languages)).toMatchObject({ language: 'sqlite', sql_results: true });
    const python = makeProject('p', { 'main.py': 'print(1)' }, 'main.py');
    expect(runRequestOf(python, languages)).not.toHaveProperty('sql_results');
  });
});

describe('a console of a SQL run', () => {
  it('collects the results in order and their errors as problems', () => {
    let state: ConsoleState = { ...newConsole('r1', 'main.sql', 0), sqlResults: [] };
    for (const result of [select, failed]) state = applyMessage(state, { type: 'sql_result', id: 'r1', result }, 5).console;
    expect(state.sqlResults).toEqual([select, failed]);
    expect(state.problems.map((p) => [p.file, p.line])).toEqual([['main.sql', 7]]);
    expect(state.firstOutputAt).toBe(5);
  });
});

describe('the result table', () => {
  const html = (rows = select.rows!) => renderToStaticMarkup(createElement(ResultTable, { columns: select.columns!, rows }));

  it('has a header with types, NULL apart, numbers right-aligned, values as text', () => {
    const markup = html([['1', '<script>x</script>'], ['2', null], ['3', 'x'.repeat(CELL_CHARS + 1)]]);
    expect(markup).toContain('<th scope="col" class="num" title="int4: click to sort">id<span class="sql-type">int4</span></th>');
    expect(markup).toContain('>Copy CSV</button>');
    expect(markup).toContain('<td class="null">NULL</td>');
    expect(markup).toContain('<td class="num">1</td>');
    expect(markup).toContain('&lt;script&gt;x&lt;/script&gt;');
    expect(markup).not.toContain('<script>');
    expect(markup).toContain(`<td class="cut" title="${'x'.repeat(CELL_CHARS + 1)}">`);
  });

  it('pages a long result and says which rows are shown', () => {
    const rows = Array.from({ length: PAGE_ROWS * 2 + 50 }, (_, i) => [String(i), 'v']);
    const markup = html(rows);
    expect(markup.match(/<tr>/g)?.length).toBe(PAGE_ROWS + 1);
    expect(markup).toContain(`Rows 1–${PAGE_ROWS} of ${PAGE_ROWS * 2 + 50} (page 1 of 3)`);
    expect(markup).toContain('<nav class="sql-pages" aria-label="Result pages">');
    expect(html(rows.slice(0, PAGE_ROWS))).not.toContain('sql-pages');
  });

  it('bounds pages at both ends', () => {
    expect(pageBounds(250, 0)).toEqual({ start: 0, end: 100, pages: 3, page: 0 });
    expect(pageBounds(250, 2)).toEqual({ start: 200, end: 250, pages: 3, page: 2 });
    expect(pageBounds(250, 7)).toEqual({ start: 200, end: 250, pages: 3, page: 2 });
    expect(pageBounds(250, -1)).toEqual({ start: 0, end: 100, pages: 3, page: 0 });
    expect(pageBounds(0, 0)).toEqual({ start: 0, end: 0, pages: 1, page: 0 });
    expect(pageBounds(1000, 9, 100)).toEqual({ start: 900, end: 1000, pages: 10, page: 9 });
  });
});

describe('the session databases store', () => {
  function setup() {
    const socket = new OpenSocket();
    const client = new BytesboxClient({ url: 'ws://x/api/v1/ws', socket: () => socket, pingMs: 0, backoffMs: [0] });
    client.connect();
    socket.receive({ type: 'hello', session: 's', resume: 'r', protocol: 1, default_limits: {}, max_limits: {} });
    return { socket, store: new SqlSessionStore(client) };
  }

  it('reads the schema with a structured run of the schema query, on pipes, beside the project', async () => {
    const { socket, store } = setup();
    const done = store.refresh('postgresql');
    const run = socket.sent.at(-1)!;
    // A scratch run: the box keeps the project's main.sql.
    expect(run).toMatchObject({ type: 'run', language: 'postgresql', entry: 'schema.sql', sql_results: true, scratch: true, tty: null });
    expect((run.files as { content: string }[])[0].content).toBe(schemaQuery('postgresql'));
    expect(store.get().loading).toBe('postgresql');
    const columns = [
      { name: 'table_name', type: 'name' },
      { name: 'column_name', type: 'name' },
      { name: 'data_type', type: 'varchar' },
    ];
    const result = { ...select, columns, rows: [['books', 'id', 'integer']] };
    socket.receive({ type: 'sql_result', id: run.id, result });
    socket.receive({ type: 'done', id: run.id });
    await done;
    expect(store.get()).toMatchObject({ loading: null, error: null, schema: { postgresql: [{ name: 'books', columns: [{ name: 'id', type: 'integer' }] }] } });
  });

  it('resets the databases, and says why when a run is going', async () => {
    const { socket, store } = setup();
    store.set({ ...store.get(), schema: { mysql: [{ name: 't', columns: [] }] } });
    let asked = store.reset();
    let frame = socket.sent.at(-1)!;
    expect(frame.type).toBe('reset_database');
    socket.receive({ type: 'error', id: frame.id, code: 'session_busy', message: 'busy' });
    expect(await asked).toBe(false);
    expect(store.get()).toMatchObject({ resetting: false, error: 'A run is going: stop it, then reset the database.' });
    expect(store.get().schema.mysql).toHaveLength(1);
    asked = store.reset();
    frame = socket.sent.at(-1)!;
    socket.receive({ type: 'database_reset', id: frame.id });
    expect(await asked).toBe(true);
    expect(store.get()).toMatchObject({ resetting: false, error: null, schema: {} });
  });
});

// SQL on a real database server in the IDE (issue 15): the dialect picker,
// result tables per statement, an error on its line, the schema panel (its
// query run beside the project, which a terminal still sees) and Reset
// database.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { artifact, enterLine, newProject, openIde, outcome, setCode, shownTerminal, skipUnlessReady, suiteFixture, waitForTerminal } from './harness.mjs';

describe('SQL in the IDE', () => {
  const fixture = suiteFixture();

  it('runs SQLite: a table of results, an error on its line, the schema', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await newProject(page, 'Notes', 'sqlite', 'hello');
    await setCode(
      page,
      [
        'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);',
        "INSERT INTO notes (body) VALUES ('one'), (NULL);",
        'SELECT id, body FROM notes;',
        'SELECT body',
        '  FROM notez;',
        "SELECT 'not run';",
        '',
      ].join('\n'),
    );
    await page.getByRole('button', { name: /^Run/ }).click();
    await outcome(page, /Exited with code 1/);
    // As the shell's -bail: the failed statement is the last one run.
    const statements = page.getByTestId('sql-results').locator('.sql-statement');
    assert.equal(await statements.count(), 4);
    assert.equal(await statements.nth(1).locator('.sql-summary').innerText(), '2 rows affected');
    const table = statements.nth(2).locator('table.sql-table');
    const cells = await table.locator('tbody tr').evaluateAll((rows) =>
      rows.map((row) => [...row.querySelectorAll('td')].map((td) => `${td.textContent}${td.className ? `[${td.className}]` : ''}`)),
    );
    assert.deepEqual(cells, [
      ['1[num]', 'one'],
      ['2[num]', 'NULL[null]'],
    ]);
    assert.match(await statements.nth(3).locator('.sql-summary').innerText(), /^Line 5: Error: no such table: notez/);
    await page.locator('.cm-lintRange-error', { hasText: 'notez' }).waitFor();

    const schema = page.getByRole('complementary', { name: 'Schema' });
    await schema.locator('summary', { hasText: 'notes' }).waitFor({ timeout: 30000 });
    const columns = await schema.locator('li').evaluateAll((els) => els.map((e) => e.firstChild.textContent.trim()));
    assert.deepEqual(columns, ['id', 'body']);
    await page.screenshot({ path: artifact('sql-sqlite.png') });
    // The schema query ran beside the project: the box still holds the
    // project's main.sql for a terminal (and git), not the query.
    await page.getByRole('tab', { name: /^Terminal/ }).click();
    await shownTerminal(page).waitFor();
    await waitForTerminal(page, /\$\s*$/m);
    await enterLine(page, 'grep -q notez main.sql && echo "kept-$((40+2))"');
    await waitForTerminal(page, /kept-42/, 10000);
    await page.getByRole('tab', { name: /^Console/ }).click();

    // A long result is paged: 250 rows, 100 a page.
    await setCode(page, 'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250) SELECT i FROM n;\n');
    await page.getByRole('button', { name: /^Run/ }).click();
    await outcome(page, /Exited with code 0/);
    const pages = page.getByRole('navigation', { name: 'Result pages' });
    await pages.getByText('Rows 1–100 of 250 (page 1 of 3)').waitFor();
    const firstCell = page.getByTestId('sql-results').locator('table.sql-table tbody tr td').first();
    assert.equal(await firstCell.innerText(), '1');
    await pages.getByRole('button', { name: 'Next ›' }).click();
    await pages.getByText('Rows 101–200 of 250 (page 2 of 3)').waitFor();
    assert.equal(await firstCell.innerText(), '101');
    await pages.getByRole('button', { name: '»' }).click();
    await pages.getByText('Rows 201–250 of 250 (page 3 of 3)').waitFor();
    assert.equal(await page.getByTestId('sql-results').locator('table.sql-table tbody tr').count(), 50);
    await context.close();
  });

  it('runs PostgreSQL: tables of results, an error on its line, the schema, a reset', async (t) => {
    if (!fixture.ready(t)) return;
    const runtimes = await (await fetch(new URL('/api/v1/runtimes', fixture.server.url))).json();
    const missing = runtimes.filter((r) => ['mysql', 'postgresql'].includes(r.id) && !r.available).map((r) => `${r.id}: ${r.reason}`);
    const why = missing.length && `MariaDB and PostgreSQL (scripts/lib.sh: ensure_sql_servers): ${missing.join('; ')}`;
    if (!skipUnlessReady(t, 'the SQL browser test', why)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await newProject(page, 'Library', 'sqlite', 'hello');
    const dialect = page.getByLabel('SQL dialect');
    const offered = await dialect.locator('option').evaluateAll((els) => els.map((e) => e.value));
    assert.deepEqual([...offered].sort(), ['mysql', 'postgresql', 'sqlite'], offered.join(', '));
    await dialect.selectOption('postgresql');

    await setCode(
      page,
      [
        'CREATE TABLE books (id INT PRIMARY KEY, title TEXT, year INT);',
        "INSERT INTO books VALUES (1, 'Dune', 1965), (2, 'Emma', NULL), (3, 'Ulysses', 1922);",
        'SELECT id, title, year FROM books ORDER BY id;',
        'SELECT title',
        '  FROM bookz;',
        '',
      ].join('\n'),
    );
    await page.getByRole('button', { name: /^Run/ }).click();
    await outcome(page, /Exited with code 1/);

    const results = page.getByTestId('sql-results');
    const statements = results.locator('.sql-statement');
    assert.equal(await statements.count(), 4);
    assert.match(await statements.nth(0).locator('.sql-summary').innerText(), /CREATE TABLE/);
    assert.equal(await statements.nth(1).locator('.sql-summary').innerText(), '3 rows affected');
    const table = statements.nth(2).locator('table.sql-table');
    const header = await table.locator('th').evaluateAll((els) => els.map((e) => e.firstChild.textContent));
    assert.deepEqual(header, ['id', 'title', 'year']);
    const cells = await table.locator('tbody tr').evaluateAll((rows) =>
      rows.map((row) => [...row.querySelectorAll('td')].map((td) => `${td.textContent}${td.className ? `[${td.className}]` : ''}`)),
    );
    assert.deepEqual(cells, [
      ['1[num]', 'Dune', '1965[num]'],
      ['2[num]', 'Emma', 'NULL[null num]'],
      ['3[num]', 'Ulysses', '1922[num]'],
    ]);
    assert.equal(await statements.nth(2).locator('.sql-summary').innerText(), '3 rows');
    // A click on a header sorts by it (numbers as numbers, NULL last).
    await table.locator('th', { hasText: 'year' }).click();
    const titles = () => table.locator('tbody tr td:nth-child(2)').evaluateAll((els) => els.map((e) => e.textContent));
    assert.deepEqual(await titles(), ['Ulysses', 'Dune', 'Emma']);
    await table.locator('th', { hasText: 'year' }).click();
    assert.deepEqual(await titles(), ['Dune', 'Ulysses', 'Emma']);
    // The error names its line (the table's name is on the statement's second line).
    assert.match(await statements.nth(3).locator('.sql-summary').innerText(), /^Line 5: Error 42P01: relation "bookz" does not exist/);
    await page.locator('.cm-lint-marker-error').first().waitFor();
    await page.locator('.cm-lintRange-error', { hasText: 'bookz' }).waitFor();
    const problem = page.getByRole('region', { name: 'Problems' }).getByRole('button', { name: /main\.sql:5/ });
    assert.match(await problem.innerText(), /relation "bookz" does not exist/);

    // The schema panel lists the table and its columns.
    const schema = page.getByRole('complementary', { name: 'Schema' });
    await schema.locator('summary', { hasText: 'books' }).waitFor({ timeout: 30000 });
    const columns = await schema.locator('li').evaluateAll((els) => els.map((e) => e.firstChild.textContent.trim()));
    assert.deepEqual(columns, ['id', 'title', 'year']);
    // The console pane raised for the screenshot, as a person would to
    // read results (its splitter's keys: 20 px a press).
    const splitter = page.getByRole('separator', { name: 'Resize the console' });
    await splitter.focus();
    for (let i = 0; i < 18; i += 1) await splitter.press('ArrowUp');
    await page.screenshot({ path: artifact('sql-results.png') });

    // Reset, confirmed: the database is empty again.
    await schema.getByRole('button', { name: 'Reset database' }).click();
    const dialog = page.locator('dialog[open]');
    await dialog.getByRole('button', { name: 'Reset database' }).click();
    await schema.getByText('No tables yet.').waitFor({ timeout: 30000 });
    await setCode(page, 'SELECT count(*) AS n FROM books;\n');
    await page.getByRole('button', { name: /^Run/ }).click();
    await outcome(page, /Exited with code 1/);
    assert.match(await results.locator('.sql-summary').first().innerText(), /relation "books" does not exist/);

    // MariaDB, picked the same way, has a database of its own in the session.
    await dialect.selectOption('mysql');
    await setCode(page, "CREATE TABLE notes (body VARCHAR(20));\nINSERT INTO notes VALUES ('hi');\nSELECT body FROM notes;\n");
    await page.getByRole('button', { name: /^Run/ }).click();
    await outcome(page, /Exited with code 0/);
    assert.deepEqual(await results.locator('.sql-summary').allInnerTexts(), ['0 rows affected', '1 row affected', '1 row']);
    assert.equal(await results.locator('tbody td').innerText(), 'hi');
    await schema.locator('summary', { hasText: 'notes' }).waitFor({ timeout: 30000 });
    await context.close();
  });
});

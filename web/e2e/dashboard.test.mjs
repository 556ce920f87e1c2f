// The admin's Dashboard in a real browser against a real server (issue
// 16): after runs in the IDE and over the execute API, an administrator
// opens the Dashboard from the account menu and sees charts of the runs
// (per language and status, latency, load, memory, errors), the error
// list and the per-user table. A real server-side failure (a saved file
// whose contents vanished from the object store) is listed under the id
// its answer and its log line carry. The node writes its minutes every second
// here (`[monitoring] flush_secs`), every minute by default.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  artifact,
  declineImport,
  newProject,
  openIde,
  outcome,
  PASSWORD,
  setCode,
  submitAuth,
  suiteFixture,
  unique,
} from './harness.mjs';

/** Runs `files` in `language` over `POST /api/v1/execute` as the signed-in page. */
async function execute(page, language, path, content) {
  return page.evaluate(
    async ([language, path, content]) => {
      const { csrf } = await (await fetch('/api/v1/auth/me')).json();
      const r = await fetch('/api/v1/execute', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
        body: JSON.stringify({ language, files: [{ path, content }] }),
      });
      return r.status;
    },
    [language, path, content],
  );
}

/** Every file under `dir`. */
function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)],
  );
}

/** Makes a saved project, removes its file's contents from the object store and reads the file: a 500. */
async function missingObject(page, dataDir) {
  const objects = join(dataDir, 'objects');
  const before = new Set(filesUnder(objects));
  const id = await page.evaluate(async () => {
    const { csrf } = await (await fetch('/api/v1/auth/me')).json();
    const r = await fetch('/api/v1/projects', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify({ name: 'Vanishing', files: [{ path: 'gone.txt', content: 'soon gone' }] }),
    });
    return (await r.json()).project.id;
  });
  const added = filesUnder(objects).filter((f) => !before.has(f));
  assert.equal(added.length, 1, added.join(', '));
  rmSync(added[0]);
  return page.evaluate(async (id) => {
    const r = await fetch(`/api/v1/projects/${id}/files/gone.txt`);
    return [r.status, (await r.json()).error];
  }, id);
}

describe('the admin Dashboard', () => {
  const admin = { username: unique('chief'), password: PASSWORD };
  const fixture = suiteFixture({ admin, config: '[monitoring]\nflush_secs = 1\n' });

  it('charts the runs of the last hour and lists users after some runs', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url, {
      viewport: { width: 1400, height: 1300 },
    });
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await submitAuth(page, 'signin', admin.username);
    await declineImport(page);

    // Runs in the IDE, and a few over the API: two languages, two statuses.
    await newProject(page, 'Charted', 'python', 'hello');
    await setCode(page, 'print(sum(range(10)))\n');
    for (let i = 0; i < 2; i++) {
      await page.getByRole('button', { name: /^Run/ }).click();
      await outcome(page, 'Exited with code 0', 60000);
    }
    assert.equal(await execute(page, 'python', 'main.py', 'import sys\nsys.exit(3)\n'), 200);
    assert.equal(await execute(page, 'bash', 'main.sh', 'echo hi\n'), 200);
    const [status, failure] = await missingObject(page, fixture.server.dataDir);
    assert.equal(status, 500, JSON.stringify(failure));
    assert.match(failure.error_id, /^e-[0-9a-f]{16}$/);
    for (let i = 0; i < 50 && !fixture.server.log().includes(failure.error_id); i++) await page.waitForTimeout(100);
    const line = fixture.server.log().split('\n').find((l) => l.includes(failure.error_id));
    assert.ok(line, 'the log line carries the error id');
    console.log(`the log line: ${line.replace(/\x1b\[[0-9;]*m/g, '')}`);

    await page.getByTestId('user-button').click();
    await page.getByRole('menuitem', { name: 'Dashboard' }).click();
    const dialog = page.getByRole('dialog', { name: 'Dashboard' });
    const totals = dialog.getByTestId('dashboard-totals');
    // The node writes every second; the page asks again on Refresh.
    const started = Date.now();
    for (let i = 0; i < 60; i++) {
      const text = await totals.innerText().catch(() => '');
      const runs = Number(/^(\d+) runs/.exec(text)?.[1] ?? 0);
      if (runs >= 4) break;
      await page.waitForTimeout(500);
      await dialog.getByRole('button', { name: 'Refresh' }).click();
    }
    console.log(`the runs showed on the Dashboard after ${Date.now() - started} ms`);
    assert.match(await totals.innerText(), /^[4-9]\d* runs \(\d+ not ok\)/);
    // The failure in the list, under its id.
    const listed = dialog.locator(`tr[data-error-id="${failure.error_id}"]`);
    for (let i = 0; i < 20 && !(await listed.count()); i++) {
      await page.waitForTimeout(500);
      await dialog.getByRole('button', { name: 'Refresh' }).click();
    }
    assert.match(await listed.innerText(), /GET \/api\/v1\/projects\/\{id\}\/files/);
    // Six charts, and four with the nodes side by side: each a uPlot
    // canvas with its legend.
    await dialog.locator('.dashboard-chart canvas').nth(9).waitFor();
    const perNode = await dialog.locator('[data-chart="Runs per minute per node"] .u-legend').innerText();
    assert.ok(perNode.trim().length > 0, 'the node is named in the legend');
    for (const title of ['Runs per minute by language', 'Run latency (submission to end)', 'Server memory']) {
      await dialog.locator(`[data-chart="${title}"] .u-legend`).waitFor();
    }
    const legend = await dialog.locator('[data-chart="Runs per minute by language"] .u-legend').innerText();
    assert.match(legend, /python/);
    assert.match(legend, /bash/);
    const statuses = await dialog.locator('[data-chart="Runs per minute by status"] .u-legend').innerText();
    assert.match(statuses, /nonzero/);
    // The node is in the choice of nodes; the admin's runs in the users' table.
    const nodes = await dialog.getByLabel('Node').locator('option').allInnerTexts();
    assert.ok(nodes.some((n) => n.includes('(this node)')), nodes.join(', '));
    const row = dialog.locator(`table[aria-label="User analytics"] tr[data-username="${admin.username}"]`);
    await row.waitFor();
    assert.match(await row.innerText(), /python \d+/);
    await dialog.getByRole('tab', { name: 'Last day' }).click();
    await dialog.locator('.dashboard-chart canvas').nth(5).waitFor();
    await dialog.getByRole('tab', { name: 'Last hour' }).click();
    await dialog.locator('.dashboard-chart canvas').nth(5).waitFor();
    await page.waitForTimeout(300);
    await dialog.screenshot({ path: artifact('dashboard.png') });
    // And its lower half: the error list and the users.
    await dialog.locator('section[aria-label="Users"]').scrollIntoViewIfNeeded();
    await dialog.screenshot({ path: artifact('dashboard-errors-users.png') });
    await context.close();
  });
});

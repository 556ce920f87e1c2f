// Accounts and saved projects in a real browser against a real server
// (issue 6): sign-up, importing the browser's guest projects, a project
// saved on the server surviving a reload and running by its id, a second
// user who cannot see it, the conflict dialog of a stale tab, sign-out,
// and the sign-in page of a server without guests.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  artifact,
  connected,
  declineImport,
  newProject,
  openIde,
  outcome,
  PASSWORD,
  setCode,
  signUpFromIde,
  submitAuth,
  startServer,
  suiteFixture,
  unique,
  waitForConsole,
} from './harness.mjs';

/** Waits until everything typed is on the server: "Saved" and no unsaved marker. */
async function savedOnServer(page) {
  await page.getByTestId('save-state').filter({ hasText: /^Saved$/ }).waitFor({ timeout: 15000 });
  await page.locator('.unsaved-dot').first().waitFor({ state: 'detached', timeout: 15000 });
}

/** The text the editor shows. */
async function editorText(page) {
  return page.locator('.cm-content').innerText();
}

async function openProject(page, name) {
  await page.getByRole('button', { name: /^Projects/ }).click();
  const dialog = page.getByRole('dialog', { name: 'Projects' });
  await dialog.getByRole('button', { name: `Open project ${name}` }).click();
  await page.locator('.project-name', { hasText: name }).waitFor();
}

/** Every `run` frame the page sends. */
function recordRuns(page) {
  const runs = [];
  page.on('websocket', (ws) =>
    ws.on('framesent', (f) => {
      try {
        const m = JSON.parse(String(f.payload));
        if (m.type === 'run') runs.push(m);
      } catch {
        /* not JSON */
      }
    }),
  );
  return runs;
}

describe('accounts and saved projects', () => {
  const fixture = suiteFixture();
  const alice = unique('alice');
  let aliceContext = null;
  let alicePage = null;
  let savedId = null;

  it('signs up from the IDE and imports the browser\'s guest projects, keeping the local copies', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    aliceContext = context;
    alicePage = page;
    // A guest's work, in this browser only.
    await newProject(page, 'Guest work', 'python', 'hello');
    await setCode(page, 'print("written as a guest")\n');
    await page.getByTestId('save-state').filter({ hasText: /^Kept in this browser$/ }).waitFor();

    await signUpFromIde(page, alice);
    const offer = page.getByRole('dialog', { name: 'Import projects from this browser' });
    await offer.waitFor({ timeout: 15000 });
    await offer.getByRole('button', { name: /^Import \d+ projects?$/ }).click();
    await offer.getByRole('status').filter({ hasText: /Imported \d+ projects? into your account/ }).waitFor({ timeout: 15000 });
    await offer.getByRole('button', { name: 'Done' }).click();

    await openProject(page, 'Guest work');
    assert.match(await editorText(page), /written as a guest/);
    // The browser's copies are still there.
    const local = await page.evaluate(
      () =>
        new Promise((resolve, reject) => {
          const open = indexedDB.open('bytesbox', 1);
          open.onsuccess = () => {
            const req = open.result.transaction('projects').objectStore('projects').getAll();
            req.onsuccess = () => resolve(req.result.map((p) => p.name));
            req.onerror = () => reject(req.error);
          };
          open.onerror = () => reject(open.error);
        }),
    );
    assert.ok(local.includes('Guest work'), `local projects: ${local}`);
  });

  it('saves a project on the server: the code survives a reload and runs by the project\'s id', async (t) => {
    if (!fixture.ready(t)) return;
    assert.ok(alicePage, 'the sign-up test ran first');
    const page = alicePage;
    const runs = recordRuns(page);
    await newProject(page, 'Saved hello', 'python', 'hello');
    await setCode(page, 'print("hello from the server", 6 * 7)\n');
    await savedOnServer(page);
    savedId = await page.evaluate(async () => {
      const { projects } = await (await fetch('/api/v1/projects')).json();
      return projects.find((p) => p.name === 'Saved hello').id;
    });

    // Its address is its id on the server; a reload (as a bookmark would) opens it.
    assert.equal(new URL(page.url()).pathname, `/p/${encodeURIComponent(savedId)}`);
    await openProject(page, 'Guest work');
    await page.goBack();
    await page.locator('.project-name', { hasText: 'Saved hello' }).waitFor();
    await page.reload();
    await connected(page);
    await page.locator('.project-name', { hasText: 'Saved hello' }).waitFor();
    assert.match(await editorText(page), /hello from the server", 6 \* 7/);

    await page.getByRole('button', { name: /^Run/ }).click();
    await waitForConsole(page, /hello from the server 42/);
    await outcome(page, 'Exited with code 0');
    const run = runs.at(-1);
    assert.equal(run.project, savedId, JSON.stringify(run));
    assert.equal(run.files, undefined, 'a saved project is run without uploading its files');
  });

  it('a second user sees neither the first user\'s projects nor their files', async (t) => {
    if (!fixture.ready(t)) return;
    assert.ok(savedId, 'the saving test ran first');
    const bob = unique('bob');
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await signUpFromIde(page, bob);
    await declineImport(page);
    await page.getByRole('button', { name: /^Projects/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Projects' });
    await dialog.locator('.project-list li').first().waitFor();
    const names = await dialog.locator('.project-list strong').allInnerTexts();
    assert.ok(!names.includes('Saved hello') && !names.includes('Guest work'), `bob sees: ${names}`);
    const statuses = await page.evaluate(async (id) => {
      const project = await fetch(`/api/v1/projects/${id}`);
      const file = await fetch(`/api/v1/projects/${id}/files/main.py`);
      return [project.status, file.status];
    }, savedId);
    assert.deepEqual(statuses, [404, 404]);
    await context.close();
  });

  it('a stale second tab gets the conflict dialog: reload from server, or keep mine', async (t) => {
    if (!fixture.ready(t)) return;
    assert.ok(alicePage, 'the sign-up test ran first');
    const stale = alicePage;
    const fresh = await aliceContext.newPage();
    await fresh.goto(fixture.server.url);
    await connected(fresh);
    await fresh.locator('.project-name', { hasText: 'Saved hello' }).waitFor();

    await setCode(fresh, 'print("second tab")\n');
    await savedOnServer(fresh);
    await setCode(stale, 'print("first tab, stale")\n');
    const dialog = stale.getByRole('dialog', { name: 'Changed somewhere else' });
    await dialog.waitFor({ timeout: 15000 });
    assert.equal(await stale.getByTestId('save-state').innerText(), 'Conflict');
    await dialog.getByRole('button', { name: 'Reload from server' }).click();
    await dialog.waitFor({ state: 'detached' });
    await stale.locator('.cm-content', { hasText: 'second tab' }).waitFor();
    await savedOnServer(stale);

    // Again, and this time the stale tab keeps its text.
    await setCode(fresh, 'print("second tab, again")\n');
    await savedOnServer(fresh);
    await setCode(stale, 'print("first tab wins")\n');
    await dialog.waitFor({ timeout: 15000 });
    await dialog.getByRole('button', { name: 'Keep mine (overwrite)' }).click();
    await savedOnServer(stale);
    await fresh.reload();
    await connected(fresh);
    await fresh.locator('.cm-content', { hasText: 'first tab wins' }).waitFor();
    await fresh.close();
  });

  it('shows the account, plan and usage in Settings, and creates and revokes an API token', async (t) => {
    if (!fixture.ready(t)) return;
    assert.ok(alicePage, 'the sign-up test ran first');
    const page = alicePage;
    await page.getByTestId('user-button').click();
    await page.getByRole('menuitem', { name: 'Settings' }).click();
    const dialog = page.getByRole('dialog', { name: 'Settings' });
    assert.equal(await dialog.getByTestId('settings-username').innerText(), alice);
    assert.equal(await dialog.getByTestId('settings-plan').innerText(), 'default');
    await dialog.getByRole('meter', { name: /^Projects: \d+ of \d+$/ }).waitFor();
    await dialog.getByLabel('Token name').fill('ci');
    await dialog.getByRole('button', { name: 'Create token' }).click();
    const secret = (await dialog.getByTestId('token-secret').locator('code').innerText()).trim();
    assert.match(secret, /^bbx_/);
    await page.screenshot({ path: artifact('settings.png') });
    // The token works for a program, without the cookie.
    const me = await page.evaluate(
      async (token) => (await fetch('/api/v1/auth/me', { credentials: 'omit', headers: { Authorization: `Bearer ${token}` } })).json(),
      secret,
    );
    assert.equal(me.user?.username, alice);
    await dialog.getByRole('button', { name: 'Revoke token ci' }).click();
    await dialog.getByRole('button', { name: 'Revoke token ci' }).waitFor({ state: 'detached' });
    // Revoked: refused (`me` itself answers a stale credential as a guest, by design).
    const after = await page.evaluate(async (token) => {
      const r = await fetch('/api/v1/auth/tokens', { credentials: 'omit', headers: { Authorization: `Bearer ${token}` } });
      return [r.status, (await r.json()).error?.code];
    }, secret);
    assert.deepEqual(after, [401, 'invalid_session']);
    // The page links to the API's documentation, which the server serves.
    const href = await dialog.getByRole('link', { name: 'API documentation' }).getAttribute('href');
    const docs = await page.evaluate(async (href) => {
      const r = await fetch(href);
      return [r.status, (await r.text()).split('\n')[0]];
    }, href);
    assert.deepEqual(docs, [200, '# HTTP API']);
    await dialog.getByRole('button', { name: 'Close' }).click();
  });

  it('signs out back to the guest IDE, whose browser projects are still there', async (t) => {
    if (!fixture.ready(t)) return;
    assert.ok(alicePage, 'the sign-up test ran first');
    const page = alicePage;
    await page.getByTestId('user-button').click();
    await page.getByRole('menuitem', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor({ timeout: 15000 });
    await connected(page);
    await openProject(page, 'Guest work');
    const me = await page.evaluate(async () => (await fetch('/api/v1/auth/me')).json());
    assert.equal(me.guest, true);
    // Signing in again finds the saved project.
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await submitAuth(page, 'signin', alice);
    await openProject(page, 'Saved hello');
    await page.locator('.cm-content', { hasText: 'first tab wins' }).waitFor();
    // The browser's projects were offered to alice once, at sign-up: not again.
    assert.equal(await page.getByRole('dialog', { name: 'Import projects from this browser' }).count(), 0);
    await aliceContext.close();
  });
});

describe('a server without guests', () => {
  it('shows the sign-in page first, and the IDE after signing up', async (t) => {
    const fixture = { browser: null, server: null };
    const { requirePrerequisites, startBrowser } = await import('./harness.mjs');
    if (!requirePrerequisites(t)) return;
    fixture.server = await startServer({ config: '[accounts]\nguests = false\n' });
    fixture.browser = await startBrowser();
    try {
      const context = await fixture.browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      await page.goto(fixture.server.url);
      await page.locator('main.auth-page form.auth-form').waitFor({ timeout: 15000 });
      await page.screenshot({ path: artifact('sign-in.png') });
      const status = await page.evaluate(async () => (await fetch('/api/v1/auth/me')).status);
      assert.equal(status, 401);
      await submitAuth(page, 'signup', unique('carol'));
      await page.locator('.project-name', { hasText: 'My first project' }).waitFor();
      await context.close();
    } finally {
      await fixture.browser.close();
      await fixture.server.stop();
    }
  });
});

describe('the admin page', () => {
  const admin = { username: unique('root'), password: PASSWORD };
  const fixture = suiteFixture({ admin });

  it('lists users and live sessions, changes a plan, kills a session and disables a user', async (t) => {
    if (!fixture.ready(t)) return;
    const dave = unique('dave');
    const user = await openIde(fixture.browser, fixture.server.url);
    await signUpFromIde(user.page, dave);

    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await submitAuth(page, 'signin', admin.username);
    await declineImport(page);
    await page.getByTestId('user-button').click();
    await page.getByRole('menuitem', { name: 'Admin' }).click();
    const dialog = page.getByRole('dialog', { name: 'Admin' });
    const row = dialog.locator(`tr[data-username="${dave}"]`);
    await row.waitFor({ timeout: 15000 });

    await page.screenshot({ path: artifact('admin.png') });
    await row.getByLabel(`Plan of ${dave}`).selectOption('large');
    const planOf = () =>
      page.evaluate(async (name) => {
        const { users } = await (await fetch('/api/v1/admin/users')).json();
        return users.find((u) => u.username === name);
      }, dave);
    for (let i = 0; i < 50 && (await planOf()).plan !== 'large'; i++) await page.waitForTimeout(100);
    assert.equal((await planOf()).plan, 'large');

    // Dave's WebSocket session is listed, and can be killed.
    await dialog.getByRole('tab', { name: /^Live sessions/ }).click();
    const sessionRow = dialog.locator('table[aria-label="Live sessions"] tr', { hasText: dave });
    await sessionRow.first().waitFor({ timeout: 15000 });
    const sessionsOf = () =>
      page.evaluate(async (name) => {
        const { sessions } = await (await fetch('/api/v1/admin/sessions')).json();
        return sessions.filter((s) => s.owner.username === name).map((s) => s.id);
      }, dave);
    const before = await sessionsOf();
    assert.equal(before.length, 1, JSON.stringify(before));
    await sessionRow.first().getByRole('button', { name: 'Kill' }).click();
    for (let i = 0; i < 50 && (await sessionsOf()).includes(before[0]); i++) await page.waitForTimeout(100);
    assert.ok(!(await sessionsOf()).includes(before[0]), 'the killed session is gone');

    await dialog.getByRole('tab', { name: /^Users/ }).click();
    await row.getByRole('button', { name: 'Disable' }).click();
    await row.getByRole('button', { name: 'Enable' }).waitFor();
    const [status, code, guest] = await user.page.evaluate(async () => {
      const r = await fetch('/api/v1/projects');
      const me = await (await fetch('/api/v1/auth/me')).json();
      return [r.status, (await r.json()).error?.code, me.guest];
    });
    assert.equal(status, 401, `a disabled user is signed out (${code})`);
    assert.equal(code, 'invalid_session');
    assert.equal(guest, true);
    await user.context.close();
    await context.close();
  });
});

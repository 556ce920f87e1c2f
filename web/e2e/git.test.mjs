// The Source Control panel (issue 14) in a real browser against a real
// server: `git init` from the panel, an edit shows under Changes with its
// diff in the merge view, staged and committed, in the history with the
// guest's author; a branch made, a file changed and committed there, and
// switching back brings the open editor back to the first branch's text
// (through the workspace watch); a terminal's `git log` agrees. A
// signed-in user's commit is saved with the project: after a reload (a
// new session, a new box) the history still shows it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  answer,
  artifact,
  declineImport,
  newProject,
  openIde,
  setCode,
  shownTerminal,
  signUpFromIde,
  suiteFixture,
  unique,
  waitForTerminal,
} from './harness.mjs';

describe('source control', () => {
  const fixture = suiteFixture();

  it('init, diff, stage, commit, log; a branch switch that the editor follows', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await newProject(page, 'Git panel', 'python', 'hello');
    const editor = page.locator('.cm-content').first();
    await setCode(page, 'print("one")\n');
    await page.keyboard.press('ControlOrMeta+S');

    await page.getByRole('button', { name: 'Source Control' }).click();
    const panel = page.getByRole('region', { name: 'Source Control' });
    await panel.getByText('This workspace is not a git repository.').waitFor({ timeout: 60000 });
    await panel.getByRole('button', { name: 'Initialize repository' }).click();
    const untracked = panel.getByRole('region', { name: 'Untracked' });
    await untracked.getByRole('button', { name: 'main.py', exact: true }).waitFor({ timeout: 30000 });

    // Everything staged and committed as the first commit.
    await untracked.getByRole('button', { name: 'Stage all untracked' }).click();
    const staged = panel.getByRole('region', { name: 'Staged Changes' });
    await staged.getByRole('button', { name: 'main.py', exact: true }).waitFor();
    await panel.getByRole('textbox', { name: 'Commit message' }).fill('first');
    await panel.getByRole('button', { name: 'Commit' }).click();
    const history = panel.getByRole('list', { name: 'Commits' });
    await history.getByText('first').waitFor();
    await panel.getByText('Nothing to commit, working tree clean.').waitFor();

    // An edit, saved: a change with a diff between the index and the file.
    await setCode(page, 'print("two")\n');
    await page.keyboard.press('ControlOrMeta+S');
    await panel.getByRole('button', { name: 'Refresh' }).click();
    const changes = panel.getByRole('region', { name: 'Changes', exact: true });
    await changes.getByRole('button', { name: 'main.py', exact: true }).click();
    const diff = panel.getByRole('region', { name: 'Diff of main.py' });
    await diff.locator('.cm-mergeView').waitFor({ timeout: 15000 });
    await diff.locator('.cm-changedLine', { hasText: 'print("two")' }).waitFor();
    await diff.locator('.cm-deletedChunk, .cm-changedLine', { hasText: 'print("one")' }).first().waitFor();
    await page.screenshot({ path: artifact('source-control.png') });
    await diff.getByRole('button', { name: 'Close the diff' }).click();
    await changes.getByRole('button', { name: 'Stage main.py' }).click();
    await staged.getByRole('button', { name: 'main.py', exact: true }).waitFor();
    await panel.getByRole('textbox', { name: 'Commit message' }).fill('second');
    await panel.getByRole('button', { name: 'Commit' }).click();
    await history.getByText('second').waitFor();

    // A branch with its own change, committed.
    await panel.getByRole('button', { name: 'New branch' }).click();
    await answer(page, 'feature');
    await page.waitForFunction(() => document.querySelector('select[aria-label="Branch"]')?.value === 'feature');
    await setCode(page, 'print("feature")\n');
    await page.keyboard.press('ControlOrMeta+S');
    await panel.getByRole('button', { name: 'Refresh' }).click();
    await changes.getByRole('button', { name: 'Stage main.py' }).click();
    await panel.getByRole('textbox', { name: 'Commit message' }).fill('on feature');
    await panel.getByRole('button', { name: 'Commit' }).click();
    await history.getByText('on feature').waitFor();

    // Back on main: the box's file changes, and the open editor follows.
    await panel.getByRole('combobox', { name: 'Branch' }).selectOption('main');
    await editor.filter({ hasText: 'print("two")' }).waitFor({ timeout: 15000 });
    assert.doesNotMatch(await editor.innerText(), /feature/);
    await page.waitForFunction(() => document.querySelector('select[aria-label="Branch"]')?.value === 'main');

    // A terminal sees the same repository, with the guest as the author.
    await page.getByRole('tab', { name: /^Terminal/ }).click();
    await shownTerminal(page).waitFor();
    await waitForTerminal(page, /\$\s*$/m);
    await shownTerminal(page).locator('textarea').focus();
    await page.keyboard.insertText("git log --all --format='%an|%s' | tr '\\n' ' '; echo");
    await page.keyboard.press('Enter');
    await waitForTerminal(page, /Guest\|on feature Guest\|second Guest\|first/);
    await context.close();
  });

  it("a signed-in user's commit is in the history of a new session", async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    const username = unique('gitsave');
    await signUpFromIde(page, username);
    await declineImport(page);
    await newProject(page, 'Saved history', 'python', 'hello');
    await page.getByRole('button', { name: 'Source Control' }).click();
    let panel = page.getByRole('region', { name: 'Source Control' });
    await panel.getByRole('button', { name: 'Initialize repository' }).click({ timeout: 60000 });
    const untracked = panel.getByRole('region', { name: 'Untracked' });
    await untracked.getByRole('button', { name: 'Stage all untracked' }).click({ timeout: 30000 });
    await panel.getByRole('textbox', { name: 'Commit message' }).fill('saved with the project');
    await panel.getByRole('button', { name: 'Commit' }).click();
    // The panel reads the log after the commit's save, which the server
    // runs before the session's next git command.
    await panel.getByRole('list', { name: 'Commits' }).getByText('saved with the project').waitFor();

    // A reload is a new session with a new box: the history comes back.
    await page.reload();
    await page.getByTestId('connection').filter({ hasText: 'Connected' }).waitFor({ timeout: 15000 });
    await page.getByRole('button', { name: 'Source Control' }).click();
    panel = page.getByRole('region', { name: 'Source Control' });
    const history = panel.getByRole('list', { name: 'Commits' });
    await history.getByText('saved with the project').waitFor({ timeout: 30000 });
    assert.match((await history.locator('li').first().getAttribute('title')) ?? '', new RegExp(username), 'the author is the user');
    assert.equal(await panel.locator('.git-save-problem').count(), 0, 'no failed save is shown');
    await context.close();
  });
});

// The workspace around the editor (issue 17), in a real browser against a
// real server: each project's address (reload, back, a bookmark), the file
// tree (names in a folder, Move's folder list, uploads that replace or add
// many, tabs of one name, Undo of a delete), the keyboard (F2 after a
// click, Esc out of a console), what a guest's save state says,
// project-wide search and replace, and languages the server has not
// installed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  activeTerminal,
  answer,
  artifact,
  choose,
  connected,
  newProject,
  openFile,
  openIde,
  setCode,
  suiteFixture,
  treePaths,
  waitForConsole,
} from './harness.mjs';

const projectName = (page) => page.locator('.project-name').innerText();
const addressOf = (page) => new URL(page.url()).pathname;

/** Waits until the page's address is a project's, other than `not`. */
async function projectAddress(page, not = null) {
  await page.waitForURL((url) => /^\/p\/[^/]+$/.test(url.pathname) && url.pathname !== not);
  return addressOf(page);
}

async function tabTexts(page) {
  return page.locator('.file-tab [role="tab"]').evaluateAll((els) => els.map((e) => e.textContent));
}

describe('the workspace around the editor', () => {
  const fixture = suiteFixture();

  it('gives each project an address that reload, back, forward and a bookmark open', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    const first = await projectAddress(page);
    const firstName = await projectName(page);
    await newProject(page, 'Second', 'python', 'hello');
    const second = await projectAddress(page, first);

    await page.reload();
    await connected(page);
    assert.equal(await projectName(page), 'Second');
    assert.equal(addressOf(page), second);

    await page.goBack();
    await page.locator('.project-name', { hasText: firstName }).waitFor();
    assert.equal(addressOf(page), first);
    await page.goForward();
    await page.locator('.project-name', { hasText: 'Second' }).waitFor();
    assert.equal(addressOf(page), second);

    // A bookmark: a new tab of the same browser, straight at the address.
    const bookmark = await context.newPage();
    await bookmark.goto(fixture.server.url.replace(/\/$/, '') + first);
    await connected(bookmark);
    assert.equal(await projectName(bookmark), firstName);
    assert.equal(addressOf(bookmark), first);

    // An address this browser has no project for says so, and shows the open one's.
    await bookmark.goto(fixture.server.url.replace(/\/$/, '') + '/p/no-such-project');
    await connected(bookmark);
    await bookmark.getByRole('alert').filter({ hasText: 'names no project here' }).waitFor();
    assert.match(addressOf(bookmark), /^\/p\/p-/);
    // The API's unknown paths stay its JSON 404, next to the IDE's /p/ pages.
    const api = await bookmark.request.get(fixture.server.url.replace(/\/$/, '') + '/api/v1/p/x');
    assert.equal(api.status(), 404);
    assert.equal((await api.json()).error.code, 'not_found');
    await context.close();
  });

  it('creates in the selected folder, moves to a listed folder, asks before an upload replaces, and undoes a delete', async (t) => {
    if (!fixture.ready(t)) return;
    const local = mkdtempSync(join(tmpdir(), 'bytesbox-tree-'));
    t.after(() => rmSync(local, { recursive: true, force: true }));
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await newProject(page, 'Tree', 'cpp', 'hello');
    await page.getByRole('button', { name: 'New folder' }).click();
    await answer(page, 'lib');
    // A click selects the folder (and folds it); New file goes inside it
    // with a name relative to it, and the folder opens to show the file.
    await openFile(page, 'lib');
    await page.getByRole('button', { name: 'New file' }).click();
    await answer(page, 'mathx.cpp');
    await page.locator('[role="treeitem"][data-path="lib/mathx.cpp"]').waitFor();
    await page.getByRole('button', { name: 'New file' }).click();
    await answer(page, 'lib/util.h');
    await page.getByRole('button', { name: 'New file' }).click();
    await answer(page, '/util.h');
    assert.deepEqual(await treePaths(page), ['lib', 'lib/mathx.cpp', 'lib/util.h', 'main.cpp', 'util.h']);
    // Two tabs called util.h say which is which.
    const tabs = await tabTexts(page);
    assert.ok(tabs.includes('util.hlib') && tabs.includes('util.htop level') && tabs.includes('mathx.cpp'), tabs.join(' | '));

    // Move offers the folders there are (not the folder itself, nor one inside it).
    await page.getByRole('button', { name: 'New folder' }).click();
    await answer(page, '/data');
    await page.getByRole('button', { name: 'Actions for lib', exact: true }).click();
    await page.getByRole('menuitem', { name: 'Move' }).click();
    const offered = await page.locator('dialog[open] select option').allInnerTexts();
    assert.deepEqual(offered, ['(top level)', 'data/']);
    await choose(page, 'data/');
    assert.deepEqual(await treePaths(page), ['data', 'data/lib', 'data/lib/mathx.cpp', 'data/lib/util.h', 'main.cpp', 'util.h']);

    // Uploading over main.cpp asks; Cancel keeps it, Replace replaces it.
    writeFileSync(join(local, 'main.cpp'), 'int main() { return 3; }\n');
    const upload = async (files) => {
      const chooser = page.waitForEvent('filechooser');
      await page.getByRole('button', { name: 'Upload files', exact: true }).click();
      await (await chooser).setFiles(files);
    };
    await openFile(page, 'main.cpp');
    await upload([join(local, 'main.cpp')]);
    const ask = page.locator('dialog[open]');
    await ask.getByRole('heading', { name: 'Replace main.cpp?' }).waitFor();
    await ask.getByRole('button', { name: 'Cancel' }).click();
    assert.match(await page.locator('.cm-content').innerText(), /Hello|cout|printf/);
    await upload([join(local, 'main.cpp')]);
    await ask.getByRole('button', { name: 'Replace' }).click();
    await page.locator('.cm-content', { hasText: 'return 3;' }).waitFor();

    // Many files at once are added, not opened.
    const many = Array.from({ length: 6 }, (_, i) => join(local, `data${i}.txt`));
    many.forEach((path, i) => writeFileSync(path, `${i}\n`));
    const before = await tabTexts(page);
    await upload(many);
    await page.locator('[role="treeitem"][data-path="data5.txt"]').waitFor();
    assert.deepEqual(await tabTexts(page), before);

    // Delete asks, then offers Undo, which brings the folder back whole.
    await page.getByRole('button', { name: 'Actions for data', exact: true }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    await page.locator('dialog[open]').getByRole('button', { name: 'Delete' }).click();
    assert.ok(!(await treePaths(page)).includes('data/lib/mathx.cpp'));
    await page.getByRole('alert').filter({ hasText: 'Deleted data.' }).getByRole('button', { name: 'Undo' }).click();
    await page.locator('[role="treeitem"][data-path="data/lib/mathx.cpp"]').waitFor();
    assert.ok((await treePaths(page)).includes('data/lib/util.h'));
    await page.screenshot({ path: artifact('tree.png') });
    await context.close();
  });

  it('renames with F2 after a click, leaves a console with Esc, and says where a guest’s work is kept', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await newProject(page, 'Keys', 'python', 'hello');
    await page.getByTestId('save-state').filter({ hasText: /^Kept in this browser$/ }).waitFor();

    await openFile(page, 'main.py');
    await page.keyboard.press('F2');
    await page.locator('dialog[open]').getByRole('heading', { name: 'Rename main.py' }).waitFor();
    await answer(page, 'app.py');
    assert.deepEqual(await treePaths(page), ['app.py']);

    await openFile(page, 'app.py');
    await setCode(page, 'import sys\nline = sys.stdin.readline()\nprint("got", repr(line))\n');
    await page.keyboard.press('ControlOrMeta+Enter');
    const terminal = activeTerminal(page).locator('textarea');
    await page.waitForFunction(() => document.activeElement?.closest('.term-host') !== null);
    // Ctrl+[ is the ESC byte for the program; Esc itself leaves the console.
    await page.keyboard.press('Control+BracketLeft');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => document.activeElement?.closest('.cm-editor') !== null);
    await terminal.focus();
    await page.keyboard.type('x');
    await page.keyboard.press('Enter');
    await waitForConsole(page, /got '\\x1bx\\n'/);
    await context.close();
  });

  it('searches the whole project, jumps to a match, and replaces every match', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await newProject(page, 'Search', 'python', 'hello');
    await setCode(page, 'from util import greet\nprint(greet("old"))\n');
    await page.getByRole('button', { name: 'New file' }).click();
    await answer(page, 'util.py');
    await page.keyboard.insertText('def greet(name):\n    return "hi " + name  # Old style\n');

    await page.keyboard.press('ControlOrMeta+Shift+F');
    const panel = page.getByRole('region', { name: 'Search in project' });
    const field = panel.getByRole('searchbox', { name: 'Search in project' });
    await field.waitFor();
    assert.equal(await field.evaluate((el) => el === document.activeElement), true);
    await field.fill('old');
    const summary = panel.getByRole('status');
    await summary.filter({ hasText: '2 results in 2 files' }).waitFor();
    await panel.getByLabel('Match case').check();
    await summary.filter({ hasText: '1 result in 1 file' }).waitFor();
    await panel.getByLabel('Match case').uncheck();
    await panel.getByRole('button', { name: /Old style/ }).click();
    await page.locator('.cm-activeLine', { hasText: 'return "hi " + name' }).waitFor();

    await panel.getByRole('textbox', { name: 'Replace with' }).fill('new');
    await panel.getByRole('button', { name: 'Replace all' }).click();
    const ask = page.locator('dialog[open]');
    await ask.getByRole('heading', { name: 'Replace 2 matches?' }).waitFor();
    await ask.getByRole('button', { name: 'Replace all' }).click();
    // Undo puts both files back; then the replace again, for good.
    await summary.filter({ hasText: '0 results in 0 files' }).waitFor();
    await page.getByRole('alert').filter({ hasText: 'Replaced 2 matches in 2 files.' }).getByRole('button', { name: 'Undo' }).click();
    await summary.filter({ hasText: '2 results in 2 files' }).waitFor();
    // One file's matches alone, then the rest with Replace all.
    await panel.getByRole('button', { name: 'Replace in util.py' }).click();
    await page.getByRole('alert').filter({ hasText: 'Replaced 1 match in 1 file.' }).waitFor();
    await summary.filter({ hasText: '1 result in 1 file' }).waitFor();
    await panel.getByRole('button', { name: 'Replace all' }).click();
    await ask.getByRole('button', { name: 'Replace all' }).click();
    await page.getByRole('alert').filter({ hasText: 'Replaced 1 match in 1 file.' }).waitFor();
    await summary.filter({ hasText: '0 results in 0 files' }).waitFor();
    // Unsaved edits until saved or run; the run uses them.
    await page.locator('.file-tab .unsaved-dot').first().waitFor();
    await page.keyboard.press('ControlOrMeta+Enter');
    await waitForConsole(page, /hi new/);
    await field.fill('new');
    await summary.filter({ hasText: '2 results in 2 files' }).waitFor();
    await page.getByTestId('save-state').filter({ hasText: /^Kept in this browser$/ }).waitFor();
    // The editor's own find panel (Ctrl/⌘+F) wears the IDE's controls, like this panel.
    await page.locator('.cm-content').click();
    await page.keyboard.press('ControlOrMeta+F');
    await page.locator('.cm-search .cm-textfield').first().waitFor();
    const [find, ide] = await page.evaluate(() =>
      [document.querySelector('.cm-search .cm-button'), document.querySelector('.search-form button')].map((el) => {
        const style = getComputedStyle(el);
        return { background: style.backgroundColor, border: style.borderColor, radius: style.borderRadius, font: style.fontFamily };
      }),
    );
    assert.deepEqual(find, ide);
    await page.screenshot({ path: artifact('search.png') });
    await panel.getByRole('button', { name: 'Close search' }).click();
    await page.getByRole('tree', { name: 'Project files' }).waitFor();
    await context.close();
  });

  it('shows languages the server has not installed as unavailable, with the reason, in every picker', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    const runtimes = await (await page.request.get(fixture.server.url.replace(/\/$/, '') + '/api/v1/runtimes')).json();
    const optionsOf = (select) =>
      select.locator('option').evaluateAll((els) => els.map((o) => ({ value: o.value, disabled: o.disabled, text: o.textContent })));
    await page.getByRole('button', { name: /^Projects/ }).click();
    const pickers = [
      await optionsOf(page.getByRole('dialog', { name: 'Projects' }).getByLabel('Template language')),
    ];
    await page.getByRole('dialog', { name: 'Projects' }).getByRole('button', { name: 'Close' }).click();
    pickers.push(await optionsOf(page.getByLabel('Language', { exact: true })));
    for (const options of pickers) {
      for (const option of options.filter((o) => o.value)) {
        const runtime = runtimes.find((r) => r.id === option.value);
        assert.ok(runtime, option.value);
        assert.equal(option.disabled, !runtime.available, option.text);
        if (runtime.available) assert.equal(option.text, runtime.name);
        else {
          assert.ok(option.text.startsWith(`${runtime.name} — unavailable: `), option.text);
          assert.ok(runtime.reason && !/\/usr\/|\/bin/.test(runtime.reason), `the reason names no server path: ${runtime.reason}`);
        }
      }
    }
    await context.close();
  });
});

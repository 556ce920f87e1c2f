// The web IDE in a real browser against a real server (issue 5's list).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  activeTerminal,
  answer,
  artifact,
  connected,
  consoleText,
  newProject,
  openFile,
  openIde,
  outcome,
  requirePrerequisites,
  setCode,
  startBrowser,
  startServer,
  treePaths,
  waitForConsole,
  missingPrerequisite,
} from './harness.mjs';

let server;
let browser;
const ready = () => server && browser;

describe('web IDE', () => {
  before(async () => {
    if (missingPrerequisite()) return;
    server = await startServer();
    browser = await startBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('runs a Python program that asks for a name, and greets the name typed into the console', async (t) => {
    if (!requirePrerequisites(t) || !ready()) return;
    const { context, page } = await openIde(browser, server.url);
    await newProject(page, 'Greeter', 'python', 'hello');
    await setCode(page, 'name = input("Name? ")\nprint(f"Hello, {name}!")\n');
    await page.getByRole('button', { name: /^Run/ }).click();
    await waitForConsole(page, /Name\? /);
    await activeTerminal(page).click();
    await page.keyboard.type('Ada Lovelace');
    await page.keyboard.press('Enter');
    const text = await waitForConsole(page, /Hello, Ada Lovelace!/);
    assert.match(await outcome(page, 'Exited with code 0'), /Exited with code 0/);
    assert.match(await waitForConsole(page, /wall .* CPU .* memory/), /memory \d/);
    assert.ok(text.indexOf('Name?') < text.indexOf('Hello, Ada'), text);
    await context.close();
  });

  it('stops an infinite loop with Stop and says so', async (t) => {
    if (!requirePrerequisites(t) || !ready()) return;
    const { context, page } = await openIde(browser, server.url);
    await newProject(page, 'Loop', 'python', 'hello');
    await setCode(page, 'import itertools\nfor i in itertools.count():\n    if i % 5000000 == 0:\n        print("still going", i, flush=True)\n');
    await page.keyboard.press('ControlOrMeta+Enter');
    await waitForConsole(page, /still going 0/);
    const stop = page.getByRole('button', { name: /^Stop/ });
    await stop.click();
    assert.match(await outcome(page, 'Stopped', 10000), /Stopped/);
    assert.equal(await stop.isDisabled(), true);
    await context.close();
  });

  it('compiles and runs a multi-file C++ project with a header in a subfolder', async (t) => {
    if (!requirePrerequisites(t) || !ready()) return;
    const { context, page } = await openIde(browser, server.url);
    await newProject(page, 'Geometry', 'cpp', 'multi');
    assert.deepEqual(await treePaths(page), ['geometry', 'geometry/point.cpp', 'geometry/point.hpp', 'main.cpp']);
    await page.getByRole('button', { name: /^Run/ }).click();
    const text = await waitForConsole(page, /Distance: 5/, 90000);
    assert.match(text, /Compiling/);
    assert.ok(text.indexOf('Compiling') < text.indexOf('Distance: 5'));
    await outcome(page, 'Exited with code 0');
    await context.close();
  });

  it('runs a Java program whose main class is in a package', async (t) => {
    if (!requirePrerequisites(t) || !ready()) return;
    const { context, page } = await openIde(browser, server.url);
    await newProject(page, 'Packaged', 'java', 'multi');
    await openFile(page, 'com/example/util/Greeter.java');
    // The entry is marked, so the file being edited does not matter.
    await page.getByRole('button', { name: /^Run/ }).click();
    await waitForConsole(page, /Hello, World!/, 90000);
    await outcome(page, 'Exited with code 0');
    await context.close();
  });

  it('creates, renames, moves and deletes files and folders', async (t) => {
    if (!requirePrerequisites(t) || !ready()) return;
    const { context, page } = await openIde(browser, server.url);
    await newProject(page, 'Files', 'python', 'hello');
    await page.getByRole('button', { name: 'New folder' }).click();
    await answer(page, 'pkg');
    await page.getByRole('button', { name: 'Actions for pkg', exact: true }).click();
    await page.getByRole('menuitem', { name: 'New file here' }).click();
    await answer(page, 'util.py');
    await page.keyboard.insertText('VALUE = 42\n');
    assert.deepEqual(await treePaths(page), ['pkg', 'pkg/util.py', 'main.py']);
    // An unsaved marker until Ctrl+S.
    await page.locator('.file-tab.active .unsaved-dot').waitFor();
    await page.keyboard.press('ControlOrMeta+S');
    await page.locator('.file-tab.active .unsaved-dot').waitFor({ state: 'detached' });

    await page.getByRole('button', { name: 'Actions for pkg/util.py', exact: true }).click();
    await page.getByRole('menuitem', { name: 'Rename' }).click();
    await answer(page, 'helpers.py');
    await page.getByRole('button', { name: 'Actions for pkg', exact: true }).click();
    await page.getByRole('menuitem', { name: 'Rename' }).click();
    await answer(page, 'lib');
    assert.deepEqual(await treePaths(page), ['lib', 'lib/helpers.py', 'main.py']);

    // The renamed module is importable: the project runs with it.
    await openFile(page, 'main.py');
    await setCode(page, 'from lib.helpers import VALUE\nprint("value", VALUE)\n');
    await page.keyboard.press('ControlOrMeta+Enter');
    await waitForConsole(page, /value 42/);

    await page.getByRole('button', { name: 'Actions for lib/helpers.py', exact: true }).click();
    await page.getByRole('menuitem', { name: 'Move' }).click();
    await answer(page, '');
    assert.deepEqual(await treePaths(page), ['lib', 'helpers.py', 'main.py']);

    // Delete asks first; Cancel keeps the folder.
    await page.getByRole('button', { name: 'Actions for lib', exact: true }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    await page.locator('dialog[open]').getByRole('button', { name: 'Cancel' }).click();
    assert.deepEqual(await treePaths(page), ['lib', 'helpers.py', 'main.py']);
    await page.getByRole('button', { name: 'Actions for lib', exact: true }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    await page.locator('dialog[open]').getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('button', { name: 'Actions for helpers.py', exact: true }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    await page.locator('dialog[open]').getByRole('button', { name: 'Delete' }).click();
    assert.deepEqual(await treePaths(page), ['main.py']);
    await context.close();
  });

  it('keeps files, edits and projects across a reload', async (t) => {
    if (!requirePrerequisites(t) || !ready()) return;
    const { context, page } = await openIde(browser, server.url);
    await newProject(page, 'Persistent', 'python', 'hello');
    await page.getByRole('button', { name: 'New file' }).click();
    await answer(page, 'notes/todo.txt');
    await page.keyboard.insertText('remember the milk');
    await page.getByTestId('save-state').filter({ hasText: /^Saved$/ }).waitFor();
    await page.reload();
    await connected(page);
    await page.locator('.project-name', { hasText: 'Persistent' }).waitFor();
    assert.deepEqual(await treePaths(page), ['notes', 'notes/todo.txt', 'main.py']);
    await openFile(page, 'notes/todo.txt');
    await page.locator('.cm-content', { hasText: 'remember the milk' }).waitFor();
    // Both projects are in the list.
    await page.getByRole('button', { name: /^Projects/ }).click();
    const list = page.getByRole('dialog', { name: 'Projects' });
    await list.getByRole('button', { name: 'Open project Persistent' }).waitFor();
    await list.getByRole('button', { name: 'Open project My first project' }).click();
    await page.locator('.project-name', { hasText: 'My first project' }).waitFor();
    await context.close();
  });

  it('runs two programs at once in two consoles: a server and its client', async (t) => {
    if (!requirePrerequisites(t) || !ready()) return;
    const { context, page } = await openIde(browser, server.url);
    await newProject(page, 'Client and server', 'python', 'hello');
    await setCode(
      page,
      [
        'import socket',
        's = socket.socket()',
        's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
        's.bind(("127.0.0.1", 5050))',
        's.listen()',
        'print("listening", flush=True)',
        'conn, _ = s.accept()',
        'print("server got:", conn.recv(100).decode(), flush=True)',
        '',
      ].join('\n'),
    );
    await page.getByRole('button', { name: /^Run/ }).click();
    await waitForConsole(page, /listening/);
    await page.getByRole('button', { name: 'New file' }).click();
    await answer(page, 'client.py');
    await page.keyboard.insertText(
      'import socket\nc = socket.create_connection(("127.0.0.1", 5050))\nc.sendall(b"hello over loopback")\nprint("client sent", flush=True)\n',
    );
    await page.getByRole('button', { name: /^Run/ }).click();
    await waitForConsole(page, /client sent/);
    const tabs = page.getByRole('tab', { name: /^Console \d/ });
    assert.equal(await tabs.count(), 2);
    await tabs.first().click();
    await waitForConsole(page, /server got: hello over loopback/);
    await outcome(page, 'Exited with code 0');
    await context.close();
  });

  it('keeps a running program’s output across a dropped connection', async (t) => {
    if (!requirePrerequisites(t) || !ready()) return;
    const { context, page } = await openIde(browser, server.url);
    await newProject(page, 'Resume', 'python', 'hello');
    await setCode(page, 'import time\nfor i in range(1, 9):\n    print("tick", i, flush=True)\n    time.sleep(0.25)\n');
    await page.getByRole('button', { name: /^Run/ }).click();
    await waitForConsole(page, /tick 2/);
    await page.evaluate(() => window.__bytesboxApp.client.dropConnection());
    await page.getByTestId('connection').filter({ hasText: 'Connected' }).waitFor({ timeout: 15000 });
    const text = await waitForConsole(page, /tick 8/);
    await outcome(page, 'Exited with code 0');
    for (let i = 1; i <= 8; i++) assert.match(text, new RegExp(`tick ${i}\\b`));
    await context.close();
  });

  it('works on a 390 px phone screen, in one column (screenshot)', async (t) => {
    if (!requirePrerequisites(t) || !ready()) return;
    const { context, page } = await openIde(browser, server.url, {
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
      deviceScaleFactor: 2,
    });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the page is ${width} px wide`);
    await page.getByRole('button', { name: 'Files', exact: true }).tap();
    await page.locator('[role="treeitem"][data-path="main.py"]').tap();
    await page.locator('.cm-content').waitFor();
    await page.screenshot({ path: artifact('phone-editor.png') });
    await page.getByRole('button', { name: /^Run/ }).tap();
    await waitForConsole(page, /What is your name\?/);
    await activeTerminal(page).tap();
    await page.keyboard.type('Grace');
    await page.keyboard.press('Enter');
    await waitForConsole(page, /Hello, Grace!/);
    await outcome(page, 'Exited with code 0');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(overflow <= 390, `the page is ${overflow} px wide`);
    await page.screenshot({ path: artifact('phone-console.png') });
    console.log(`screenshots: ${artifact('phone-editor.png')}, ${artifact('phone-console.png')}`);
    await context.close();
  });

  it('has light and dark themes (screenshots)', async (t) => {
    if (!requirePrerequisites(t) || !ready()) return;
    const { context, page } = await openIde(browser, server.url);
    await newProject(page, 'Themes', 'cpp', 'input');
    await page.getByRole('button', { name: /^Run/ }).click();
    await waitForConsole(page, /What is your name\?/, 90000);
    await page.keyboard.type('Linus');
    await page.keyboard.press('Enter');
    await outcome(page, 'Exited with code 0');
    const background = () => page.evaluate(() => getComputedStyle(document.querySelector('.app')).backgroundColor);
    await page.getByLabel('Theme', { exact: true }).selectOption('light');
    const light = await background();
    await page.screenshot({ path: artifact('desktop-light.png') });
    await page.getByLabel('Theme', { exact: true }).selectOption('dark');
    const dark = await background();
    await page.screenshot({ path: artifact('desktop-dark.png') });
    assert.notEqual(light, dark);
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    // The choice is remembered.
    await page.reload();
    await connected(page);
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    console.log(`screenshots: ${artifact('desktop-light.png')}, ${artifact('desktop-dark.png')}`);
    await context.close();
  });

  it('shows the shortcut overlay on ?', async (t) => {
    if (!requirePrerequisites(t) || !ready()) return;
    const { context, page } = await openIde(browser, server.url);
    await page.getByRole('button', { name: 'Resize the file tree' }).focus().catch(() => {});
    await page.locator('body').click({ position: { x: 5, y: 790 } });
    await page.keyboard.press('?');
    const overlay = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
    await overlay.waitFor();
    assert.match(await overlay.innerText(), /Run/);
    await page.keyboard.press('Escape');
    await overlay.waitFor({ state: 'detached' });
    await context.close();
  });
});

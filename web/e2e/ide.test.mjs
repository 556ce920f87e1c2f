// The web IDE in a real browser against a real server (issue 5's list).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import {
  activeTerminal,
  answer,
  choose,
  artifact,
  connected,
  consoleText,
  droppableConnections,
  newProject,
  openFile,
  openIde,
  outcome,
  setCode,
  suiteFixture,
  treePaths,
  waitForConsole,
} from './harness.mjs';

describe('web IDE', () => {
  const fixture = suiteFixture();

  it('runs a Python program that asks for a name, and greets the name typed into the console', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
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
    // Only the run's own text: nothing left over from preparing the terminal.
    assert.match(text, /^\$ run main\.py\n/);
    await context.close();
  });

  it('stops an infinite loop with Stop and says so', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
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
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
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
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await newProject(page, 'Packaged', 'java', 'multi');
    await openFile(page, 'com/example/util/Greeter.java');
    // The entry is marked, so the file being edited does not matter.
    await page.getByRole('button', { name: /^Run/ }).click();
    await waitForConsole(page, /Hello, World!/, 90000);
    await outcome(page, 'Exited with code 0');
    await context.close();
  });

  it('creates, renames, moves and deletes files and folders', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
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
    await choose(page, '(top level)');
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

  it('uploads files and a folder, runs with them, and downloads a file and the project as a zip', async (t) => {
    if (!fixture.ready(t)) return;
    const local = mkdtempSync(join(tmpdir(), 'bytesbox-upload-'));
    t.after(() => rmSync(local, { recursive: true, force: true }));
    const binary = Uint8Array.from({ length: 256 }, (_, i) => i);
    writeFileSync(join(local, 'data.txt'), 'hello upload\n');
    writeFileSync(join(local, 'blob.bin'), binary);
    mkdirSync(join(local, 'pkg', 'sub'), { recursive: true });
    writeFileSync(join(local, 'pkg', '__init__.py'), '');
    writeFileSync(join(local, 'pkg', 'mod.py'), 'X = 7\n');
    writeFileSync(join(local, 'pkg', 'sub', 'deep.txt'), 'deep\n');

    const { context, page } = await openIde(fixture.browser, fixture.server.url, { acceptDownloads: true });
    await newProject(page, 'Transfers', 'python', 'hello');
    let chooser = page.waitForEvent('filechooser');
    await page.getByRole('button', { name: 'Upload files', exact: true }).click();
    await (await chooser).setFiles([join(local, 'data.txt'), join(local, 'blob.bin')]);
    await page.locator('[role="treeitem"][data-path="blob.bin"]').waitFor();
    chooser = page.waitForEvent('filechooser');
    await page.getByRole('button', { name: 'Upload a folder', exact: true }).click();
    await (await chooser).setFiles(join(local, 'pkg'));
    await page.locator('[role="treeitem"][data-path="pkg/sub/deep.txt"]').waitFor();
    assert.deepEqual(await treePaths(page), [
      'pkg',
      'pkg/sub',
      'pkg/sub/deep.txt',
      'pkg/__init__.py',
      'pkg/mod.py',
      'blob.bin',
      'data.txt',
      'main.py',
    ]);
    // The uploads reach the box byte for byte (the binary one as base64).
    await openFile(page, 'main.py');
    await setCode(
      page,
      'from pkg.mod import X\nprint("uploaded", X, open("data.txt").read().strip(), sum(open("blob.bin", "rb").read()), open("pkg/sub/deep.txt").read().strip())\n',
    );
    await page.keyboard.press('ControlOrMeta+Enter');
    await waitForConsole(page, new RegExp(`uploaded 7 hello upload ${binary.reduce((a, b) => a + b, 0)} deep`));

    let download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Actions for data.txt', exact: true }).click();
    await page.getByRole('menuitem', { name: 'Download', exact: true }).click();
    let file = await download;
    assert.equal(file.suggestedFilename(), 'data.txt');
    assert.equal(readFileSync(await file.path(), 'utf8'), 'hello upload\n');

    download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download project as zip' }).click();
    file = await download;
    assert.equal(file.suggestedFilename(), 'Transfers.zip');
    const zip = unzipSync(new Uint8Array(readFileSync(await file.path())));
    assert.deepEqual(Object.keys(zip).sort(), [
      'blob.bin',
      'data.txt',
      'main.py',
      'pkg/__init__.py',
      'pkg/mod.py',
      'pkg/sub/deep.txt',
    ]);
    assert.deepEqual(zip['blob.bin'], binary);
    assert.equal(new TextDecoder().decode(zip['pkg/mod.py']), 'X = 7\n');
    assert.match(new TextDecoder().decode(zip['main.py']), /^from pkg\.mod import X/);

    // A folder downloads as its own zip, paths relative to it.
    download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Actions for pkg', exact: true }).click();
    await page.getByRole('menuitem', { name: 'Download as zip' }).click();
    file = await download;
    assert.equal(file.suggestedFilename(), 'pkg.zip');
    assert.deepEqual(Object.keys(unzipSync(new Uint8Array(readFileSync(await file.path())))).sort(), [
      '__init__.py',
      'mod.py',
      'sub/deep.txt',
    ]);
    await context.close();
  });

  it('moves files and folders by drag and drop in the file tree', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await newProject(page, 'Dragging', 'python', 'multi');
    await page.getByRole('button', { name: 'New folder' }).click();
    await answer(page, 'lib');
    const row = (path) => page.locator(`li.tree-row:has(> [data-path="${path}"])`);
    await row('main.py').dragTo(row('lib'));
    await page.locator('[role="treeitem"][data-path="lib/main.py"]').waitFor();
    await row('geometry').dragTo(row('lib'));
    await page.locator('[role="treeitem"][data-path="lib/geometry/shapes.py"]').waitFor();
    assert.deepEqual(await treePaths(page), ['lib', 'lib/geometry', 'lib/geometry/__init__.py', 'lib/geometry/shapes.py', 'lib/main.py']);
    // Dropped on the tree's empty space: back to the top level.
    const tree = page.getByRole('tree', { name: 'Project files' });
    const box = await tree.boundingBox();
    await row('lib/main.py').dragTo(tree, { targetPosition: { x: box.width / 2, y: box.height - 10 } });
    await page.locator('[role="treeitem"][data-path="main.py"]').waitFor();
    await row('lib/geometry').dragTo(tree, { targetPosition: { x: box.width / 2, y: box.height - 10 } });
    await page.locator('[role="treeitem"][data-path="geometry/shapes.py"]').waitFor();
    assert.deepEqual(await treePaths(page), ['geometry', 'geometry/__init__.py', 'geometry/shapes.py', 'lib', 'main.py']);
    // The moved project still runs (the entry followed the move).
    await page.getByRole('button', { name: /^Run/ }).click();
    await waitForConsole(page, /Area: 12\.57/);
    await outcome(page, 'Exited with code 0');
    await context.close();
  });

  it('interrupts a program with Ctrl+C and ends its input with Ctrl+D, typed in the console', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await newProject(page, 'Keys', 'python', 'hello');
    await setCode(page, 'import sys\nprint(len(sys.stdin.read()), "characters")\n');
    await page.getByRole('button', { name: /^Run/ }).click();
    await page.getByTestId('console-outcome').filter({ hasText: 'running' }).waitFor();
    await activeTerminal(page).click();
    await page.keyboard.type('abc');
    await page.keyboard.press('Enter');
    await page.keyboard.type('de');
    await page.keyboard.press('Enter');
    await waitForConsole(page, /de\s*$/m);
    await page.keyboard.press('Control+D');
    await waitForConsole(page, /^7 characters/m);
    await outcome(page, 'Exited with code 0');

    await openFile(page, 'main.py');
    await setCode(
      page,
      'import time\nprint("waiting", flush=True)\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    print("interrupted")\n    raise SystemExit(3)\n',
    );
    await page.getByRole('button', { name: /^Run/ }).click();
    await waitForConsole(page, /waiting/);
    await activeTerminal(page).click();
    await page.keyboard.press('Control+C');
    // SIGINT reached the program, which caught it and chose its exit code.
    await waitForConsole(page, /interrupted/, 10000);
    assert.match(await outcome(page, 'Exited with code 3', 10000), /code 3/);
    await context.close();
  });

  it('keeps files, edits and projects across a reload', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await newProject(page, 'Persistent', 'python', 'hello');
    await page.getByRole('button', { name: 'New file' }).click();
    await answer(page, 'notes/todo.txt');
    await page.keyboard.insertText('remember the milk');
    await page.getByTestId('save-state').filter({ hasText: /^Kept in this browser$/ }).waitFor();
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
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
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
    // The template marked main.py as the entry: run the file open instead.
    await page.getByLabel('Entry file').selectOption('');
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
    if (!fixture.ready(t)) return;
    let connections;
    const { context, page } = await openIde(fixture.browser, fixture.server.url, {
      beforeLoad: async (context) => (connections = await droppableConnections(context)),
    });
    await newProject(page, 'Resume', 'python', 'hello');
    await setCode(page, 'import time\nfor i in range(1, 9):\n    print("tick", i, flush=True)\n    time.sleep(0.25)\n');
    await page.getByRole('button', { name: /^Run/ }).click();
    await waitForConsole(page, /tick 2/);
    await connections.drop();
    await page.getByTestId('connection').filter({ hasText: 'Connected' }).waitFor({ timeout: 15000 });
    const text = await waitForConsole(page, /tick 8/);
    await outcome(page, 'Exited with code 0');
    for (let i = 1; i <= 8; i++) assert.match(text, new RegExp(`tick ${i}\\b`));
    await context.close();
  });

  it('works on a 390 px phone screen, in one column (screenshot)', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url, {
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
      deviceScaleFactor: 2,
    });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the page is ${width} px wide`);
    // The toolbar is one row: every control in it sits on the same line.
    const rows = await page.evaluate(() => {
      const bar = document.querySelector('header.toolbar');
      const tops = [...bar.children]
        .filter((el) => el.getBoundingClientRect().height > 0 && !el.classList.contains('more-panel'))
        .map((el) => Math.round(el.getBoundingClientRect().top + el.getBoundingClientRect().height / 2));
      return { height: bar.getBoundingClientRect().height, lines: new Set(tops.map((y) => Math.round(y / 8))).size };
    });
    assert.equal(rows.lines, 1, `the toolbar has ${rows.lines} rows`);
    assert.ok(rows.height <= 56, `the toolbar is ${rows.height} px high`);
    // Everything else is one tap away (no hover), with labels.
    const more = page.getByRole('button', { name: 'More options' });
    assert.equal(await more.getAttribute('aria-expanded'), 'false');
    await more.tap();
    const panel = page.getByRole('group', { name: 'More options' });
    await panel.waitFor();
    assert.equal(await more.getAttribute('aria-expanded'), 'true');
    for (const label of ['Entry file', 'Language', 'Theme', 'Tab width']) {
      assert.ok(await panel.getByLabel(label, { exact: true }).isVisible(), label);
    }
    await panel.getByLabel('Tab width', { exact: true }).selectOption('2');
    await panel.getByLabel('Theme', { exact: true }).selectOption('light');
    const panelBox = await panel.boundingBox();
    assert.ok(panelBox.x >= 0 && panelBox.x + panelBox.width <= 390, `the panel spans ${panelBox.x}…${panelBox.x + panelBox.width}`);
    await page.screenshot({ path: artifact('phone-more.png') });
    await panel.getByRole('button', { name: 'Keyboard shortcuts' }).tap();
    await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor();
    await page.keyboard.press('Escape');
    await more.tap();
    await panel.waitFor();
    // A tap elsewhere closes it.
    await page.locator('.statusbar').tap();
    await panel.waitFor({ state: 'detached' });
    assert.equal(await page.evaluate(() => localStorage.getItem('bytesbox.settings')?.includes('"tabWidth":2')), true);
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
    console.log(`screenshots: ${artifact('phone-editor.png')}, ${artifact('phone-more.png')}, ${artifact('phone-console.png')}`);
    await context.close();
  });

  it('has light and dark themes (screenshots)', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await newProject(page, 'Themes', 'cpp', 'input');
    await page.getByRole('button', { name: /^Run/ }).click();
    await waitForConsole(page, /What is your name\?/, 90000);
    await page.keyboard.type('Linus');
    await page.keyboard.press('Enter');
    await outcome(page, 'Exited with code 0');
    const background = () => page.evaluate(() => getComputedStyle(document.querySelector('.app')).backgroundColor);
    // The theme is in the ⋯ panel (Esc closes it before each screenshot).
    const chooseTheme = async (theme) => {
      await page.getByRole('button', { name: 'More options' }).click();
      await page.getByLabel('Theme', { exact: true }).selectOption(theme);
      await page.keyboard.press('Escape');
      await page.getByRole('group', { name: 'More options' }).waitFor({ state: 'detached' });
    };
    await chooseTheme('light');
    const light = await background();
    await page.screenshot({ path: artifact('desktop-light.png') });
    await chooseTheme('dark');
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
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
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

  it('lets nothing typed after a global shortcut replace a file’s content', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await newProject(page, 'Keys', 'python', 'hello');
    const original = { 'main.py': 'print("main stays")', 'other.py': 'print("other stays")' };
    await setCode(page, `${original['main.py']}\n`);
    await page.getByRole('button', { name: 'New file' }).click();
    await answer(page, 'other.py');
    await page.keyboard.insertText(`${original['other.py']}\n`);
    const paths = await treePaths(page);
    // Every shortcut of useShortcuts (and F1), each followed by typing: at once where it only moves the
    // keyboard (as a fast typist would), once shown where it opens something.
    const dialog = page.locator('dialog[open]');
    const search = page.getByRole('searchbox', { name: 'Search in project' });
    const shortcuts = [
      ['Alt+Digit1'],
      ['Alt+Digit2'],
      ['Alt+Digit3'],
      ['Alt+BracketRight'],
      ['Alt+BracketLeft'],
      ['Alt+Shift+BracketRight'],
      ['F1', dialog],
      ['ControlOrMeta+Shift+KeyF', search],
      ['Alt+KeyN', dialog],
      ['ControlOrMeta+KeyS'],
      ['ControlOrMeta+Period'],
      ['ControlOrMeta+Enter'],
    ];
    for (const [key, opens] of shortcuts) {
      await page.keyboard.press(key);
      await opens?.waitFor();
      await page.keyboard.type('zz');
      await page.keyboard.press('Escape');
      await opens?.waitFor({ state: 'detached' });
    }
    // The run's code may have a `zz` line by now (typed into the editor after Alt+2): any exit will do.
    await outcome(page, /Exited with code \d+/);
    // No file made or lost, and each file's text is all there: at most some `z`s typed at the cursor (a
    // shortcut that moves the focus may move it between the two keys of a `zz`, which then land in two
    // places: that is typing, not a replaced file; the texts have no `z` of their own).
    assert.deepEqual(await treePaths(page), paths);
    for (const [path, text] of Object.entries(original)) {
      await openFile(page, path);
      await page.locator('.file-tab.active', { hasText: path }).waitFor();
      const shown = await page.locator('.cm-content').innerText();
      assert.equal(shown.replaceAll('z', '').trim(), text, `${path} after the shortcuts:\n${shown}`);
    }
    await context.close();
  });
});


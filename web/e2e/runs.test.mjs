// Errors on the code and runs that behave (issue 17), in a real browser
// against a real server: a compiler error marked in the editor, listed in
// the Problems panel and clickable in the console; a crash in words; Run
// replacing the run of the same entry; runs from a header or with no tab.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  activeTerminal,
  answer,
  artifact,
  colourOfText,
  consoleText,
  connected,
  newProject,
  openFile,
  openIde,
  outcome,
  pointOfText,
  setCode,
  suiteFixture,
  waitForConsole,
} from './harness.mjs';

const run = (page) => page.getByRole('button', { name: /^Run/ }).click();

/** The text of the editor's line with the cursor. */
async function cursorLine(page) {
  return page.locator('.cm-activeLine').innerText();
}

/** Clicks `text` where the visible console shows it (hovering first, as a person does). */
async function clickInConsole(page, text) {
  const at = await pointOfText(activeTerminal(page), text);
  assert.ok(at, `the console does not show ${text}`);
  await page.mouse.move(at.x, at.y);
  // xterm found the link under the mouse.
  await activeTerminal(page).locator('.xterm-screen.xterm-cursor-pointer').waitFor({ timeout: 5000 });
  await page.mouse.click(at.x, at.y);
}

/** Reloads the page and returns the `default_limits` of the server's `hello` to it. */
async function helloLimits(page) {
  const hello = new Promise((resolve) => {
    page.on('websocket', (ws) =>
      ws.on('framereceived', (f) => {
        const m = JSON.parse(String(f.payload));
        if (m.type === 'hello') resolve(m.default_limits);
      }),
    );
  });
  await page.reload();
  await connected(page);
  return hello;
}

/** How the status bar's Limits words a size or a duration, for the round figures servers use. */
const MIB = 1024 * 1024;
const mib = (bytes) => (assert.equal(bytes % MIB, 0, `${bytes} B is not whole MiB`), `${bytes / MIB} MiB`);
const seconds = (ms) => (ms >= 60000 && ms % 60000 === 0 ? `${ms / 60000} min` : `${ms / 1000} s`);

describe('errors on the code and runs that behave', () => {
  const fixture = suiteFixture();

  it('marks a C compile error in the editor, lists it, and jumps to it from the panel and the console', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await newProject(page, 'Broken C', 'c', 'hello');
    await setCode(page, '#include <stdio.h>\n#include "util.h"\n\nint main(void) {\n    printf("%d\\n", twice(count));\n    return 0;\n}\n');
    await page.getByRole('button', { name: 'New file' }).click();
    await answer(page, 'util.h');
    await page.keyboard.insertText('static int twice(int x) {\n    return x * 2\n}\n');
    await openFile(page, 'main.c');
    await run(page);
    await outcome(page, /Compilation failed/, 90000);

    const panel = page.getByRole('region', { name: 'Problems' });
    const problems = panel.getByRole('button', { name: /:\d+/ });
    await problems.first().waitFor();
    const listed = await problems.evaluateAll((els) => els.map((e) => e.title));
    assert.ok(listed.includes('Go to util.h:2:17'), listed.join('\n'));
    assert.ok(listed.includes('Go to main.c:5:26'), listed.join('\n'));
    // The open file has its marks: in the gutter and under the code.
    await page.locator('.cm-lint-marker-error').first().waitFor();
    await page.locator('.cm-lintRange-error', { hasText: 'count' }).waitFor();
    await page.screenshot({ path: artifact('problems.png') });

    // The panel opens the header at its line.
    await panel.getByRole('button', { name: /util\.h:2:17/ }).click();
    await page.locator('.file-tab.active', { hasText: 'util.h' }).waitFor();
    assert.equal((await cursorLine(page)).trim(), 'return x * 2');

    // The console's location opens main.c at its line.
    await clickInConsole(page, 'main.c:5:26');
    await page.locator('.file-tab.active', { hasText: 'main.c' }).waitFor();
    await page.locator('.cm-activeLine', { hasText: 'twice(count)' }).waitFor();
    await context.close();
  });

  it('points at the line of a Python traceback, shows it apart from the output, and names a crash in words', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await newProject(page, 'Traceback', 'python', 'hello');
    await setCode(page, 'def ratio(a, b):\n    return a / b\n\nprint(ratio(1, 0))\n');
    await run(page);
    await outcome(page, 'Exited with code 1');
    const problem = page.getByRole('region', { name: 'Problems' }).getByRole('button', { name: /main\.py:2/ });
    assert.match(await problem.innerText(), /ZeroDivisionError: division by zero/);
    await clickInConsole(page, 'line 4');
    await page.locator('.cm-activeLine', { hasText: 'print(ratio(1, 0))' }).waitFor();

    // The program runs under a terminal; its stderr comes apart, in red.
    await setCode(page, "import sys\nprint('out', 'put', sep='')\nprint('err', 'ors', sep='', file=sys.stderr)\n");
    await run(page);
    await outcome(page, 'Exited with code 0');
    const output = await colourOfText(activeTerminal(page), 'output');
    const errors = await colourOfText(activeTerminal(page), 'errors');
    assert.ok(output && errors, `both lines are in the console: ${await consoleText(page)}`);
    assert.notEqual(errors, output, 'stderr is drawn apart from stdout');
    await page.screenshot({ path: artifact('stderr.png') });

    // A crash: a C program that writes through a null pointer.
    await newProject(page, 'Crash', 'c', 'hello');
    await setCode(page, '#include <stdio.h>\n\nint main(void) {\n    volatile int *p = 0;\n    *p = 1;\n    return 0;\n}\n');
    await run(page);
    assert.equal(await outcome(page, 'Segmentation fault', 90000), 'Segmentation fault (signal 11)');
    assert.match(await page.getByRole('tab', { name: /^Console \d/, selected: true }).getAttribute('aria-label'), /main\.c, segmentation fault$/);
    await context.close();
  });

  it('Run replaces the run of the same entry in its console, stopping it first; a new console is a choice', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    const sent = [];
    page.on('websocket', (ws) => ws.on('framesent', (f) => sent.push(JSON.parse(String(f.payload)))));
    await page.reload();
    await page.getByTestId('connection').filter({ hasText: 'Connected' }).waitFor({ timeout: 15000 });
    await newProject(page, 'Again', 'python', 'hello');
    await setCode(page, 'import itertools, time\nfor i in itertools.count():\n    print("tick", i, flush=True)\n    time.sleep(0.2)\n');
    const tabs = page.getByRole('tab', { name: /^Console \d/ });
    await run(page);
    await waitForConsole(page, /tick 1/);
    await run(page);
    await waitForConsole(page, /tick 1/);
    assert.equal(await tabs.count(), 1);
    const runs = sent.filter((m) => m.type === 'run' || m.type === 'kill').map((m) => [m.type, m.id]);
    assert.equal(runs.length, 3, JSON.stringify(runs));
    assert.deepEqual(runs.map(([type]) => type), ['run', 'kill', 'run']);
    assert.equal(runs[1][1], runs[0][1], 'the first run is the one stopped');
    // The console shows the new run only.
    assert.equal((await activeTerminal(page).locator('.xterm-rows').innerText()).match(/\$ run main\.py/g).length, 1);

    await page.keyboard.press('ControlOrMeta+Shift+Enter');
    await tabs.nth(1).waitFor();
    await waitForConsole(page, /tick 1/);
    assert.equal(await tabs.count(), 2);
    await page.getByRole('button', { name: /^Open another console/ }).click();
    await tabs.nth(2).waitFor();
    assert.equal(sent.filter((m) => m.type === 'kill').length, 1, 'a new console stops nothing');
    for (let i = 0; i < 3; i++) {
      await tabs.nth(i).click();
      await page.getByRole('button', { name: /^Stop/ }).click();
      await outcome(page, 'Stopped', 10000);
    }
    await context.close();
  });

  it('keeps every console tab reachable when there are more than fit', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url, { viewport: { width: 1024, height: 700 } });
    await newProject(page, 'Many', 'python', 'hello');
    const tabs = page.getByRole('tab', { name: /^Console \d/ });
    for (let i = 1; i <= 10; i++) {
      await page.keyboard.press('ControlOrMeta+Shift+Enter');
      await tabs.nth(i - 1).waitFor();
      await outcome(page, 'Exited with code 0');
    }
    const strip = page.getByRole('tablist', { name: 'Console tabs' });
    const pane = await page.getByRole('region', { name: 'Consoles' }).boundingBox();
    const inside = async (locator) => {
      const box = await locator.boundingBox();
      return box.x >= pane.x - 1 && box.x + box.width <= pane.x + pane.width + 1;
    };
    assert.ok(await strip.evaluate((el) => el.scrollWidth > el.clientWidth), 'the tabs overflow their strip');
    assert.ok(await inside(tabs.last()), 'the newest tab is scrolled into view');
    assert.ok(await inside(page.getByRole('button', { name: 'Clear console' })), 'the actions stay in view');
    await tabs.first().scrollIntoViewIfNeeded();
    await tabs.first().click();
    assert.ok(await inside(tabs.first()));
    await context.close();
  });

  it('runs from a header tab, and with no tab open, the entry the catalog chooses', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await newProject(page, 'Header', 'cpp', 'multi');
    // No entry marked: the server picks the file with main().
    await page.getByLabel('Entry file').selectOption('');
    await openFile(page, 'geometry/point.hpp');
    await run(page);
    await waitForConsole(page, /Distance: 5/, 90000);
    await outcome(page, 'Exited with code 0');
    // The console is named after the entry the server chose.
    await page.getByRole('tab', { name: /^Console 1: main\.cpp, done$/ }).waitFor();
    for (let open = await page.locator('.file-tab').count(); open > 0; open--) {
      await page.locator('.file-tab').first().getByRole('button', { name: /^Close/ }).click();
    }
    assert.match(await page.locator('.statusbar').innerText(), /Runs the main file/);
    await page.keyboard.press('ControlOrMeta+Shift+Enter');
    await page.getByRole('tab', { name: /^Console 2/ }).waitFor();
    await waitForConsole(page, /Distance: 5/, 90000);
    await outcome(page, 'Exited with code 0');
    await context.close();
  });

  it('shows a guest the limits a run gets, as the server gave them, before a run', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    const limits = await helloLimits(page);
    const button = page.locator('.statusbar').getByRole('button', { name: 'Limits' });
    await button.click();
    const popover = page.getByRole('dialog', { name: 'Limits of a run' });
    const text = await popover.innerText();
    const shown = (figure, name) => assert.match(text.replace(/\s+/g, ' '), new RegExp(`${figure} ${name}`), text);
    shown(seconds(limits.wall_time_ms), 'wall time');
    shown(seconds(limits.cpu_time_ms), 'CPU time');
    shown(mib(limits.memory_bytes), 'memory');
    shown(String(limits.pids), 'processes');
    shown(mib(limits.output_bytes), 'output');
    shown(seconds(limits.input_wait_ms), 'input wait');
    assert.match(await button.getAttribute('title'), new RegExp(`^Each run: ${seconds(limits.wall_time_ms)} wall time`));
    await page.screenshot({ path: artifact('limits.png') });
    await page.keyboard.press('Escape');
    await popover.waitFor({ state: 'detached' });
    await context.close();
  });

  it('takes input typed after 45 s of waiting, longer than the wall-time limit, and exits normally', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    const limits = await helloLimits(page);
    const WAIT_MS = 45000;
    // The point: the wait is longer than the run may take, and shorter than one wait for input may last.
    assert.ok(limits.wall_time_ms < WAIT_MS, `the guest's wall-time limit is ${limits.wall_time_ms} ms`);
    assert.ok(limits.input_wait_ms > WAIT_MS, `the guest's input wait is ${limits.input_wait_ms} ms`);
    await newProject(page, 'Patient', 'python', 'hello');
    await setCode(page, 'name = input("Name? ")\nprint(f"Hello, {name}, at last!")\n');
    await run(page);
    await waitForConsole(page, /Name\? /);
    // The one fixed wait, on purpose: a person thinking.
    await page.waitForTimeout(WAIT_MS);
    assert.equal(await page.getByRole('button', { name: /^Stop/ }).isDisabled(), false, 'the run is still going');
    await activeTerminal(page).click();
    await page.keyboard.type('Ada');
    await page.keyboard.press('Enter');
    await waitForConsole(page, /Hello, Ada, at last!/);
    assert.match(await outcome(page, 'Exited with code 0'), /Exited with code 0/);
    await context.close();
  });
});

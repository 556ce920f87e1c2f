// Terminals (issue 14), in a real browser against a real server: a shell
// in the session's box that sees the project's files (and a file deleted
// or a folder renamed in the tree at once, without a run), `python3` at its
// prompt, vim writing a file, the size following the panel, copy and
// paste, and several terminals at once. Prints the key-to-echo latency
// next to the server's own round trip.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { answer, artifact, enterLine, newProject, openFile, openIde, outcome, pointOfText, shownTerminal, suiteFixture, typeLine, waitForTerminal } from './harness.mjs';

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const percentile = (values, p) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))];

describe('terminals', () => {
  const fixture = suiteFixture();

  it('opens a shell in the box: ls, python3, vim, its size, several at once, and the key-to-echo time', async (t) => {
    if (!fixture.ready(t)) return;
    // Marks when the page receives a terminal's output frame, to split the
    // key-to-echo time into the round trip to the shell and the drawing.
    const markFrames = (context) =>
      context.addInitScript(() => {
        const Native = window.WebSocket;
        window.WebSocket = class extends Native {
          constructor(...args) {
            super(...args);
            this.addEventListener('message', (m) => {
              const e = window.__echo;
              if (e && e.keyAt !== null && e.frameAt === null && String(m.data).includes('"terminal_output"')) {
                e.frameAt = performance.now();
              }
            });
          }
        };
      });
    const { context, page } = await openIde(fixture.browser, fixture.server.url, { beforeLoad: markFrames });
    await newProject(page, 'Shell work', 'python', 'hello');
    // A run puts the project's files into the box.
    await page.getByRole('button', { name: /^Run/ }).click();
    await outcome(page, /Exited with code 0/, 60000);

    await page.getByRole('tab', { name: /^Terminal/ }).click();
    await shownTerminal(page).waitFor();
    await page.getByRole('tab', { name: /^Terminal 1/ }).waitFor();
    // The prompt.
    await waitForTerminal(page, /\$\s*$/m);

    // The project's files, as the runs see them.
    await typeLine(page, 'ls; echo "files-$((40+2))"');
    const listed = await waitForTerminal(page, /files-42/);
    assert.match(listed, /main\.py/);

    // Files made, renamed and deleted in the tree: the shell sees each at
    // once, without a run in between.
    for (const path of ['notes/todo.txt', 'scratch.txt']) {
      await page.getByRole('button', { name: 'New file', exact: true }).click();
      await answer(page, path);
      await page.keyboard.insertText(`made as ${path}\n`);
      await page.keyboard.press('ControlOrMeta+S');
      await page.locator('.file-tab.active .unsaved-dot').waitFor({ state: 'detached' });
    }
    await enterLine(page, 'until [ -e notes/todo.txt ] && [ -e scratch.txt ]; do sleep 0.05; done; echo "made-$((40+3))"');
    await waitForTerminal(page, /made-43/, 10000);
    await page.getByRole('button', { name: 'Actions for scratch.txt', exact: true }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    await page.locator('dialog[open]').getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('button', { name: 'Actions for notes', exact: true }).click();
    await page.getByRole('menuitem', { name: 'Rename' }).click();
    await answer(page, 'docs');
    await enterLine(page, 'until [ ! -e scratch.txt ] && [ ! -e notes ] && [ -e docs/todo.txt ]; do sleep 0.05; done; clear; ls -1p; echo "tree-$((40+4))"');
    const after = await waitForTerminal(page, /tree-44/, 10000);
    const lines = after.slice(0, after.lastIndexOf('tree-44')).split('\n').map((l) => l.trim());
    assert.ok(lines.includes('docs/') && lines.includes('main.py'), `ls: ${after}`);
    assert.ok(!lines.includes('scratch.txt') && !lines.includes('notes/'), `deleted and renamed in the tree, gone from the box: ${after}`);

    // The size follows the panel.
    const rowsShown = await shownTerminal(page).locator('.xterm-rows > div').count();
    await typeLine(page, 'stty size | tr " " x');
    const sized = await waitForTerminal(page, /\n\d+x\d+/);
    const [rows, cols] = sized.match(/\n(\d+)x(\d+)/).slice(1).map(Number);
    assert.equal(rows, rowsShown, 'the shell has as many rows as the panel shows');
    await page.setViewportSize({ width: 900, height: 800 });
    // The panel's new width reaches the shell as SIGWINCH once xterm has
    // fitted itself: asked again until it has.
    let narrower = cols;
    for (let attempt = 0; attempt < 20 && narrower >= cols; attempt++) {
      // Computed, so the typed line's echo never matches.
      await typeLine(page, `clear; stty size | tr " " y; echo "asked-$((${attempt} + 1000))"`);
      const resized = await waitForTerminal(page, new RegExp(`asked-${attempt + 1000}`));
      narrower = Number(resized.match(/(?:^|\n)\d+y(\d+)/)[1]);
    }
    assert.ok(narrower < cols, `the narrower window narrowed the terminal (${cols} → ${narrower} columns)`);
    await page.setViewportSize({ width: 1280, height: 800 });

    // python3 at its own prompt.
    await typeLine(page, 'clear; python3 -q');
    await waitForTerminal(page, />>>\s*$/m);
    await typeLine(page, 'print(6 * 7)');
    await waitForTerminal(page, /^42$/m);
    await typeLine(page, 'exit()');
    await waitForTerminal(page, /\$\s*$/m);

    // vim writes a file; the shell sees it.
    await typeLine(page, 'clear; vim note.txt');
    await waitForTerminal(page, /note\.txt/);
    await page.keyboard.type('iHello from vim');
    await page.keyboard.press('Escape');
    await page.keyboard.type(':wq');
    await page.keyboard.press('Enter');
    await typeLine(page, 'clear; cat note.txt | tr a-z A-Z');
    await waitForTerminal(page, /HELLO FROM VIM/);
    // The IDE sees it too: in the tree, and opened, in the editor; vim
    // changing it again changes the open editor.
    await page.locator('[role="treeitem"][data-path="note.txt"]').waitFor({ timeout: 15000 });
    await openFile(page, 'note.txt');
    await page.locator('.cm-content', { hasText: 'Hello from vim' }).waitFor({ timeout: 15000 });
    await typeLine(page, 'vim note.txt');
    await waitForTerminal(page, /"note\.txt"/);
    await page.keyboard.type('A, twice');
    await page.keyboard.press('Escape');
    await page.keyboard.type(':wq');
    await page.keyboard.press('Enter');
    await page.locator('.cm-content', { hasText: 'Hello from vim, twice' }).waitFor({ timeout: 15000 });
    await typeLine(page, 'clear; cat note.txt | tr a-z A-Z');
    await waitForTerminal(page, /HELLO FROM VIM, TWICE/);
    await page.screenshot({ path: artifact('terminal.png') });

    // Copy a word the shell printed (double-click selects it), paste a line.
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: fixture.server.url });
    const word = await pointOfText(shownTerminal(page), 'HELLO');
    assert.ok(word, 'the terminal shows HELLO');
    await page.mouse.dblclick(word.x, word.y);
    await page.keyboard.press('Control+Shift+C');
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), 'HELLO');
    await page.evaluate(() => navigator.clipboard.writeText('echo "pasted-$((3*4))"'));
    await shownTerminal(page).locator('textarea').focus();
    await page.keyboard.press('Control+Shift+V');
    await page.keyboard.press('Enter');
    await waitForTerminal(page, /pasted-12/);

    // Key to echo: from the key's keydown in the page to the echoed
    // character in the terminal's rows.
    await typeLine(page, 'clear');
    await page.evaluate(() => {
      const host = document.querySelector('.term-host[data-terminal]:not([hidden])');
      const rows = host.querySelector('.xterm-rows');
      const w = window;
      w.__echo = { keyAt: null, frameAt: null, echoAt: null, expect: null };
      host.querySelector('textarea').addEventListener(
        'keydown',
        () => {
          w.__echo.keyAt = performance.now();
        },
        true,
      );
      new MutationObserver(() => {
        const e = w.__echo;
        if (e.keyAt !== null && e.echoAt === null && rows.textContent.includes(e.expect)) e.echoAt = performance.now();
      }).observe(rows, { subtree: true, childList: true, characterData: true });
    });
    await shownTerminal(page).locator('textarea').focus();
    await page.keyboard.type(': zq');
    await waitForTerminal(page, /: zq/);
    const keys = 'abcdefghijklmnopqrstuvwxyzabcdefghij';
    const echoes = [];
    const frames = [];
    for (let i = 0; i < keys.length; i++) {
      const expect = `: zq${keys.slice(0, i + 1)}`;
      await page.evaluate(
        (wanted) => Object.assign(window.__echo, { keyAt: null, frameAt: null, echoAt: null, expect: wanted }),
        expect,
      );
      await page.keyboard.press(keys[i]);
      await page.waitForFunction(() => window.__echo.echoAt !== null, null, { timeout: 10000 });
      const { keyAt, frameAt, echoAt } = await page.evaluate(() => window.__echo);
      echoes.push(echoAt - keyAt);
      frames.push(frameAt - keyAt);
    }
    await page.keyboard.press('Control+U');
    // The server's own round trip, from the same page: ping to pong on a
    // session of its own.
    const roundTrips = await page.evaluate(async () => {
      const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/ws`);
      const frames = [];
      let wake = null;
      socket.onmessage = (m) => {
        frames.push(JSON.parse(m.data));
        wake?.();
      };
      const nextFrame = async () => {
        while (!frames.length) await new Promise((resolve) => (wake = resolve));
        return frames.shift();
      };
      await nextFrame(); // hello
      const times = [];
      for (let i = 0; i < 30; i++) {
        const at = performance.now();
        socket.send(JSON.stringify({ type: 'ping', nonce: String(i) }));
        await nextFrame();
        times.push(performance.now() - at);
      }
      socket.close();
      return times;
    });
    const echo = median(echoes);
    const trip = median(roundTrips);
    const toFrame = median(frames);
    const line =
      `terminal key to echo on screen: median ${echo.toFixed(1)} ms, p90 ${percentile(echoes, 0.9).toFixed(1)} ms (${echoes.length} keys); ` +
      `key to the echo's frame in the page: median ${toFrame.toFixed(1)} ms; ` +
      `server round trip (ping): median ${trip.toFixed(1)} ms; over the round trip: ${(echo - trip).toFixed(1)} ms on screen, ` +
      `${(toFrame - trip).toFixed(1)} ms to the frame`;
    console.log(line);
    writeFileSync(artifact('terminal-latency.txt'), `${line}\n`);
    assert.ok(echoes.every((ms) => ms > 0), 'every key was echoed after it was pressed');
    assert.ok(frames.every((ms, i) => ms > 0 && ms <= echoes[i]), 'each echo arrived before it was drawn');

    // A second terminal, a shell of its own in the same box.
    await page.getByRole('button', { name: 'New terminal' }).click();
    await page.getByRole('tab', { name: /^Terminal 2/ }).waitFor();
    await waitForTerminal(page, /\$\s*$/m);
    await typeLine(page, 'cat note.txt; echo "second-$((1+1))"');
    await waitForTerminal(page, /Hello from vim[\s\S]*second-2/);
    await page.getByRole('button', { name: 'Close Terminal 2' }).click();
    await page.getByRole('tab', { name: /^Terminal 2/ }).waitFor({ state: 'detached' });
    await page.getByRole('tab', { name: /^Terminal 1/ }).waitFor();
    await context.close();
  });
});

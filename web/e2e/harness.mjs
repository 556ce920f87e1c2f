// Shared set-up of the browser tests: a real `bytesbox serve` (native
// backend, ephemeral port) and Debian's Chromium driven by playwright-core.
//
// Needs root (the native sandbox) and /usr/bin/chromium. Outside CI a
// missing prerequisite makes every test report SKIPPED loudly; in CI
// (CI=true) it is a failure.

import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

export const webDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const repoDir = resolve(webDir, '..');
/** Screenshots and figures, kept as CI artifacts. */
export const artifactsDir = process.env.BYTESBOX_WEB_ARTIFACTS ?? join(repoDir, 'target', 'web-artifacts');

const CHROMIUM = process.env.BYTESBOX_CHROMIUM ?? '/usr/bin/chromium';
const BROWSER_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

function serverBinary() {
  if (process.env.BYTESBOX_BIN) return process.env.BYTESBOX_BIN;
  for (const profile of ['debug', 'release']) {
    const path = join(process.env.CARGO_TARGET_DIR ?? join(repoDir, 'target'), profile, 'bytesbox');
    if (existsSync(path)) return path;
  }
  return null;
}

/**
 * A test host in a network namespace of its own, serving a git repository
 * over smart HTTP (`bytesbox-test-host`, built beside the server from
 * `crates/testkit`): resolves with its `address`, `repository_url`, the
 * bare `repository`'s path on this machine, and `stop()`, which closes
 * the helper's stdin so it removes the namespace. Needs root.
 */
export async function startTestHost() {
  const binary = join(dirname(serverBinary()), 'bytesbox-test-host');
  if (!existsSync(binary)) throw new Error(`no test host helper at ${binary} (cargo build --workspace --bins)`);
  const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const fields = await new Promise((resolveFields, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (/^ready$/m.test(out)) resolveFields(Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)])));
    });
    child.on('exit', (code) => reject(new Error(`the test host helper exited (${code}): ${err}`)));
  });
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.stdin.end();
    await exited;
  };
  return { ...fields, stop };
}

/** Why the suite cannot run here, or null. */
export function missingPrerequisite() {
  if (process.getuid?.() !== 0) return 'not root (the native sandbox needs root)';
  if (!existsSync(CHROMIUM)) return `no browser at ${CHROMIUM} (Debian package chromium)`;
  const binary = serverBinary();
  if (!binary || !existsSync(binary)) return `no bytesbox binary${binary ? ` at ${binary}` : ''} (cargo build --workspace --bins)`;
  if (!existsSync(join(webDir, 'dist', 'index.html'))) return 'web/dist is not built (npm run build)';
  return null;
}

/**
 * True when nothing is `missing`; otherwise fails the test in CI, or
 * skips it loudly elsewhere and records the skip in `BYTESBOX_SKIP_LOG`
 * (the list `scripts/test` sums up at its end, as for the Rust tests).
 */
export function skipUnlessReady(t, what, missing) {
  if (!missing) return true;
  if (process.env.CI) throw new Error(`${what} cannot run: ${missing}`);
  console.error(`\n*** SKIPPED: ${what}: ${missing} ***\n`);
  if (process.env.BYTESBOX_SKIP_LOG) appendFileSync(process.env.BYTESBOX_SKIP_LOG, `${what}: ${missing}\n`);
  t.skip(`SKIPPED: ${missing}`);
  return false;
}

/** Skips (outside CI) or fails (in CI) when a prerequisite is missing. */
export function requirePrerequisites(t) {
  return skipUnlessReady(t, 'browser tests', missingPrerequisite());
}

/**
 * A server and a browser for the enclosing suite: started before its
 * tests (when the prerequisites are there), stopped after them. Tests call
 * `fixture.ready(t)` first: false means skipped (outside CI).
 */
export function suiteFixture(serverOptions) {
  const fixture = {
    server: null,
    browser: null,
    ready: (t) => requirePrerequisites(t) && !!fixture.server && !!fixture.browser,
  };
  before(async () => {
    if (missingPrerequisite()) return;
    fixture.server = await startServer(serverOptions);
    fixture.browser = await startBrowser();
  });
  after(async () => {
    await fixture.browser?.close();
    await fixture.server?.stop();
  });
  return fixture;
}

/**
 * Starts `bytesbox serve` on an ephemeral port; resolves with its URL, a
 * stop function, its log so far and its data directory. `config` is the text of a config file (docs/configuration.md);
 * `admin` ({username, password}) is an administrator made first with
 * `bytesbox admin create-user`; `web` is the built IDE to serve (web/dist
 * unless given).
 */
export async function startServer({ config, admin, web = join(webDir, 'dist') } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'bytesbox-e2e-'));
  if (admin) {
    execFileSync(serverBinary(), ['admin', 'create-user', '--data-dir', dataDir, '--username', admin.username, '--admin'], {
      env: { ...process.env, BYTESBOX_PASSWORD: admin.password },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }
  const args = ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--web-dir', web, '--backend', 'native'];
  if (config) {
    const path = join(dataDir, 'config.toml');
    writeFileSync(path, config);
    args.push('--config', path);
  }
  const child = spawn(
    serverBinary(),
    args,
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' } },
  );
  let log = '';
  child.stderr.on('data', (d) => {
    log += d;
    if (log.length > 200000) log = log.slice(-100000);
  });
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start in 30 s:\n${log}`)), 30000);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/serving on (http:\/\/[^\s]+)/);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}):\n${log}`));
    });
  });
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { url, stop, log: () => log, dataDir };
}

export async function startBrowser() {
  // launch() gives every browser a fresh, temporary profile (its own
  // --user-data-dir), removed when it closes.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: BROWSER_FLAGS, timeout: 60000 });
}

export function artifact(name) {
  mkdirSync(artifactsDir, { recursive: true });
  return join(artifactsDir, name);
}

// ---- page helpers -------------------------------------------------------

/**
 * Opens the IDE in a fresh context (fresh IndexedDB) and waits until it is
 * connected. `beforeLoad(context)` runs before the page is loaded.
 */
export async function openIde(browser, url, { beforeLoad, ...options } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  await beforeLoad?.(context);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  if (process.env.BYTESBOX_E2E_TRACE) {
    page.on('websocket', (ws) => {
      ws.on('framesent', (f) => console.error('>>', String(f.payload).slice(0, 160)));
      ws.on('framereceived', (f) => console.error('<<', String(f.payload).slice(0, 160)));
    });
  }
  await page.goto(url);
  await connected(page);
  return { context, page };
}

/**
 * Routes the context's protocol WebSockets through Playwright, so a test can
 * drop them as a network failure would: `drop()` closes every open one,
 * the page's side and the server's.
 */
export async function droppableConnections(context) {
  const open = new Set();
  await context.routeWebSocket(/\/api\/v1\/ws/, (page) => {
    // With no message handlers, frames pass through both ways unchanged.
    const server = page.connectToServer();
    const connection = { page, server };
    open.add(connection);
    // Handling the page's close turns off Playwright's forwarding of it.
    page.onClose(() => {
      open.delete(connection);
      void server.close();
    });
  });
  return {
    drop: async () => {
      if (!open.size) throw new Error('no protocol WebSocket is open to drop');
      for (const { page, server } of open) {
        await server.close({ code: 4000, reason: 'dropped' });
        await page.close({ code: 4000, reason: 'dropped' });
      }
      open.clear();
    },
  };
}

export async function connected(page) {
  await page.getByTestId('connection').filter({ hasText: 'Connected' }).waitFor({ timeout: 15000 });
  await page.locator('.cm-content').first().waitFor();
}

/** A new project from a template, through the project list. */
export async function newProject(page, name, languageId, kind) {
  await page.getByRole('button', { name: /^Projects/ }).click();
  const dialog = page.getByRole('dialog', { name: 'Projects' });
  await dialog.getByRole('textbox', { name: 'Project name' }).fill(name);
  await dialog.getByLabel('Template language').selectOption(languageId);
  await dialog.getByLabel('Template', { exact: true }).selectOption(kind);
  await dialog.getByRole('button', { name: 'Create' }).click();
  await page.locator('.project-name', { hasText: name }).waitFor();
}

/** Replaces the open file's text, as a paste would. */
export async function setCode(page, text) {
  await page.locator('.cm-content').click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

/** The terminal of the console shown (not the hidden ones, nor the spare). */
export function activeTerminal(page) {
  return page.locator('.term-host[data-console]:not([hidden])');
}

/**
 * Where xterm.js draws the first row with `text`: the middle of its third
 * character and the colour it is drawn in, or null once 5 s have passed
 * without it.
 */
async function spotOfText(terminal, text) {
  // xterm.js draws its rows on the next animation frame: text the page
  // already holds (the run's end is shown) may not be in them yet.
  const deadline = Date.now() + 5000;
  for (;;) {
    const spot = await spotInRows(terminal, text);
    if (spot || Date.now() > deadline) return spot;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `spotOfText` as the rows are drawn now. */
async function spotInRows(terminal, text) {
  return terminal.evaluate((host, wanted) => {
    for (const row of host.querySelectorAll('.xterm-rows > div')) {
      const index = row.textContent.indexOf(wanted);
      if (index < 0) continue;
      // The row's text is split into spans by colour: find the node and
      // offset of the text's third character, and its box.
      let offset = index + 2;
      const walker = document.createTreeWalker(row, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (offset < node.length) {
          const range = document.createRange();
          range.setStart(node, offset);
          range.setEnd(node, offset + 1);
          const box = range.getBoundingClientRect();
          return { x: box.x + box.width / 2, y: box.y + box.height / 2, colour: getComputedStyle(node.parentElement).color };
        }
        offset -= node.length;
      }
    }
    return null;
  }, text);
}

/** The middle of `text`'s third character where the terminal shows it, or null. */
export async function pointOfText(terminal, text) {
  const spot = await spotOfText(terminal, text);
  return spot && { x: spot.x, y: spot.y };
}

/** The colour xterm.js draws the first row with `text` in, or null. */
export async function colourOfText(terminal, text) {
  return (await spotOfText(terminal, text))?.colour ?? null;
}

/** The text of the visible console. */
export async function consoleText(page) {
  return activeTerminal(page).locator('.xterm-rows').innerText();
}

/** Polls an xterm's text (`read`) until it matches `pattern`; returns the text. */
async function waitForXterm(page, read, what, pattern, timeout) {
  const deadline = Date.now() + timeout;
  let text = '';
  while (Date.now() < deadline) {
    text = await read(page).catch(() => '');
    if (pattern.test(text)) return text;
    await page.waitForTimeout(50);
  }
  throw new Error(`the ${what} never showed ${pattern}; it shows:\n${text}`);
}

export async function waitForConsole(page, pattern, timeout = 30000) {
  return waitForXterm(page, consoleText, 'console', pattern, timeout);
}

export async function outcome(page, pattern, timeout = 60000) {
  const status = page.getByTestId('console-outcome');
  await status.filter({ hasText: pattern }).waitFor({ timeout });
  return status.innerText();
}

// ---- terminals (the Terminal tab's shells) --------------------------------

/** The terminal shown (not the hidden ones, nor any console's). */
export const shownTerminal = (page) => page.locator('.term-host[data-terminal]:not([hidden])');

export async function terminalText(page) {
  return shownTerminal(page).locator('.xterm-rows').innerText();
}

export async function waitForTerminal(page, pattern, timeout = 30000) {
  return waitForXterm(page, terminalText, 'terminal', pattern, timeout);
}

/**
 * Enters a command line in the shown terminal as one piece of input (as
 * a paste is sent), then Enter: a key a frame could outrun a busy shell's
 * input queue on a loaded machine.
 */
export async function enterLine(page, line) {
  await shownTerminal(page).locator('textarea').focus();
  await page.keyboard.insertText(line);
  await page.keyboard.press('Enter');
}

/** Types a command line into the shown terminal (as keys, then Enter). */
export async function typeLine(page, line) {
  await shownTerminal(page).locator('textarea').focus();
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

/** Opens a file by clicking it in the tree. */
export async function openFile(page, path) {
  await page.locator(`[role="treeitem"][data-path="${path}"]`).click();
}

export async function treePaths(page) {
  return page.locator('[role="treeitem"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
}

/** Answers the open prompt dialog. */
export async function answer(page, value) {
  const dialog = page.locator('dialog[open]');
  await dialog.locator('input').fill(value);
  await dialog.locator('button[type="submit"]').click();
  await dialog.waitFor({ state: 'detached', timeout: 5000 }).catch(() => {});
}

/** Answers the open dialog that picks from a list (Move's folders) with the option labelled `label`. */
export async function choose(page, label) {
  const dialog = page.locator('dialog[open]');
  await dialog.locator('select').selectOption({ label });
  await dialog.locator('button[type="submit"]').click();
  await dialog.waitFor({ state: 'detached', timeout: 5000 }).catch(() => {});
}

// ---- accounts -----------------------------------------------------------

export const PASSWORD = 'correct horse battery';

/** A user name no other test run has used. */
export const unique = (name) => `${name}-${Date.now().toString(36)}${Math.floor(Math.random() * 1000)}`;

/** Fills the sign-in form (the page's or the dialog's) and waits for the signed-in IDE. */
export async function submitAuth(page, mode, username) {
  const form = page.locator('form.auth-form');
  await form.waitFor();
  await form.getByRole('tab', { name: mode === 'signup' ? 'Create account' : 'Sign in' }).click();
  await form.getByLabel('Username').fill(username);
  await form.getByLabel(/^Password/).fill(PASSWORD);
  await form.locator('button[type="submit"]').click();
  await page.getByTestId('user-button').filter({ hasText: username }).waitFor({ timeout: 20000 });
  await connected(page);
}

/** Signs up from the IDE's Sign in button. */
export async function signUpFromIde(page, username) {
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await submitAuth(page, 'signup', username);
}

/** Answers "Not now" to the offer to import the browser's guest projects. */
export async function declineImport(page) {
  const offer = page.getByRole('dialog', { name: 'Import projects from this browser' });
  await offer.getByRole('button', { name: 'Not now' }).click({ timeout: 15000 });
  await offer.waitFor({ state: 'detached' });
}

// A benchmark, not a test: Run → first output of Python hello world in the
// IDE, against the server's own figure for the very same run. It prints the
// figures and writes them to latency.txt; it asserts nothing about them
// (docs/web.md, "Latency"). Run it with `npm run bench:latency` after
// `cargo build --workspace --bins`; it builds its own copy of the IDE with
// the benchmark's hooks (`vite build --mode benchmark`), which the
// production bundle does not have.
//
// Apples to apples: the bare protocol session in the same page replays the
// exact `run` frame the IDE just sent (same files, same entry, same
// terminal size), so the only difference is the IDE. Both are timed in the
// page, both wait without polling (a Playwright locator wait polls the page
// on every animation frame, which would slow the IDE's run and not the
// bare one), and the samples are interleaved so a loaded machine hits both
// alike. The same run with pipes instead of a terminal shows what the PTY
// costs on the server.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { artifact, missingPrerequisite, newProject, openIde, startBrowser, startServer, webDir } from '../e2e/harness.mjs';

const WARM_UP = 3;
const ROUNDS = 15;

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const ms = (x) => `${x.toFixed(1)} ms`;

/** Stops the benchmark: a run that fails leaves nothing to measure. */
function check(ok, what) {
  if (!ok) throw new Error(what);
}

async function measure(url, browser) {
  const { context, page } = await openIde(browser, url);
  await newProject(page, 'Latency', 'python', 'hello');
  await page.evaluate(async () => {
    const app = window.__bytesboxApp;
    // The IDE's run frame, as sent, for the bare session to replay.
    const send = app.client.send.bind(app.client);
    app.client.send = (message) => {
      if (message.type === 'run') window.__lastRun = { request: message, sentAt: performance.now() };
      send(message);
    };
    const ended = (c) => c.phase === 'finished' || c.phase === 'failed' || c.phase === 'lost';
    // Resolves when the next new console's run has ended.
    window.__armUiRun = () => {
      const known = new Set(app.consoles.get().consoles.map((c) => c.id));
      window.__uiRun = new Promise((resolve) => {
        const check = () => {
          const c = app.consoles.get().consoles.find((x) => !known.has(x.id));
          if (!c || !ended(c)) return;
          stop();
          // The first character reaches the screen in the frame after xterm parsed it.
          const painted = () => window.__bytesbox?.painted?.[c.id];
          const finish = () =>
            resolve({
              id: c.id,
              outcome: c.outcome,
              toSend: window.__lastRun.sentAt - c.startedAt,
              arrived: c.firstOutputAt - c.startedAt,
              painted: painted() - c.startedAt,
            });
          if (painted()) finish();
          else requestAnimationFrame(() => requestAnimationFrame(finish));
        };
        const stop = app.consoles.subscribe(check);
      });
    };
    // A bare protocol session: no UI, no terminal.
    const ws = new WebSocket(`ws://${location.host}/api/v1/ws`);
    await new Promise((resolve) => ws.addEventListener('message', resolve, { once: true }));
    let n = 0;
    window.__bareRun = (tty) =>
      new Promise((resolve) => {
        const id = `bare-${++n}`;
        const start = performance.now();
        let first = null;
        let exit = null;
        let wall = null;
        const onMessage = (ev) => {
          const m = JSON.parse(ev.data);
          if (m.id !== id) return;
          if (m.type === 'output' && first === null) first = performance.now() - start;
          if (m.type === 'exit') [exit, wall] = [performance.now() - start, m.wall_ms];
          if (m.type === 'done' || m.type === 'error') {
            ws.removeEventListener('message', onMessage);
            resolve({ first, exit, wall, error: m.type === 'error' ? m.code : null });
          }
        };
        ws.addEventListener('message', onMessage);
        ws.send(JSON.stringify({ ...window.__lastRun.request, id, tty }));
      });
  });
  const runButton = await page.getByRole('button', { name: /^Run/ }).boundingBox();
  const uiRun = async () => {
    await page.evaluate(() => window.__armUiRun());
    // A bare mouse click: no actionability checks running in the page meanwhile.
    await page.mouse.click(runButton.x + runButton.width / 2, runButton.y + runButton.height / 2);
    const result = await page.evaluate(() => window.__uiRun);
    check(result.outcome === 'Exited with code 0', `the IDE's run ended with ${result.outcome}`);
    return result;
  };
  const bareRun = async (tty) => {
    const result = await page.evaluate((tty) => window.__bareRun(tty), tty);
    check(result.error === null, `the bare run failed: ${result.error}`);
    return result;
  };
  const samples = { ui: [], tty: [], pipes: [] };
  for (let i = 0; i < WARM_UP + ROUNDS; i++) {
    const ui = await uiRun();
    const { tty } = await page.evaluate(() => window.__lastRun.request);
    const bareTty = await bareRun(tty);
    const barePipes = await bareRun(null);
    if (i < WARM_UP) continue;
    samples.ui.push(ui);
    samples.tty.push(bareTty);
    samples.pipes.push(barePipes);
  }
  const pick = (list, key) => list.map((x) => x[key]);
  const painted = median(pick(samples.ui, 'painted'));
  const arrived = median(pick(samples.ui, 'arrived'));
  const toSend = median(pick(samples.ui, 'toSend'));
  const serverFigure = median(pick(samples.tty, 'first'));
  const difference = median(samples.ui.map((u, i) => u.painted - samples.tty[i].first));
  const pipesFirst = median(pick(samples.pipes, 'first'));
  const ttyExit = median(pick(samples.tty, 'exit'));
  const pipesExit = median(pick(samples.pipes, 'exit'));
  const { tty } = await page.evaluate(() => window.__lastRun.request);
  const lines = [
    `Run → first output, Python hello world, medians of ${ROUNDS} interleaved warm runs (terminal ${tty.rows}×${tty.cols}):`,
    `  IDE: ${ms(painted)} to the first character on screen (${ms(arrived)} to its frame; run frame sent ${ms(toSend)} after the click)`,
    `  server's own figure (bare protocol session in the same page, the IDE's run frame replayed): ${ms(serverFigure)}`,
    `  IDE − server, median of paired differences: ${ms(difference)} (target ≤ 30 ms)`,
    `  same run with pipes instead of a terminal: first output ${ms(pipesFirst)} (Python flushes a pipe only at exit), ` +
      `run → exit ${ms(pipesExit)} against ${ms(ttyExit)} with the terminal; program wall time ` +
      `${median(pick(samples.tty, 'wall'))} ms (terminal) / ${median(pick(samples.pipes, 'wall'))} ms (pipes)`,
  ];
  console.log(lines.join('\n'));
  writeFileSync(artifact('latency.txt'), lines.join('\n') + '\n');
  await context.close();
}

const missing = missingPrerequisite();
if (missing) {
  console.error(`the latency benchmark cannot run: ${missing}`);
  process.exit(1);
}
const web = mkdtempSync(join(tmpdir(), 'bytesbox-bench-web-'));
try {
  execFileSync(join(webDir, 'node_modules', '.bin', 'vite'), ['build', '--mode', 'benchmark', '--outDir', web, '--emptyOutDir', '--logLevel', 'warn'], {
    cwd: webDir,
    stdio: 'inherit',
  });
  const server = await startServer({ web });
  const browser = await startBrowser();
  try {
    await measure(server.url, browser);
  } finally {
    await browser.close();
    await server.stop();
  }
} finally {
  rmSync(web, { recursive: true, force: true });
}

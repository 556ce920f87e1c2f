// Egress an operator allows (issue 14, "Done means"), in a real browser
// against a real server whose guests' plan has egress to one test host (a
// network namespace of the test's own serving a git repository over smart
// HTTP, docs/egress.md): in the IDE alone, a guest clones the repository
// in a terminal, takes it into the project's workspace, edits and runs a
// file, commits it from the Source Control panel and pushes from the
// terminal; the push arrives on the test host. Another address is
// refused by the proxy.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import {
  artifact,
  enterLine,
  newProject,
  openIde,
  outcome,
  requirePrerequisites,
  setCode,
  shownTerminal,
  startBrowser,
  startServer,
  startTestHost,
  missingPrerequisite,
  waitForConsole,
  waitForTerminal,
} from './harness.mjs';

describe('egress', () => {
  let host = null;
  let server = null;
  let browser = null;
  before(async () => {
    if (missingPrerequisite()) return;
    host = await startTestHost();
    server = await startServer({
      config: `[egress]\nrules = [{ hosts = ["${host.address}/32"], ports = [80] }]\n[plans.guest]\negress = true\n`,
    });
    browser = await startBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await host?.stop();
  });

  it('clones from an allowed host, edits, runs, commits and pushes without leaving the browser', async (t) => {
    if (!requirePrerequisites(t)) return;
    const { context, page } = await openIde(browser, server.url);
    try {
      await newProject(page, 'Egress', 'python', 'hello');
      await page.getByRole('tab', { name: /^Terminal( \(\d+\))?$/ }).click();
      await shownTerminal(page).waitFor();
      await waitForTerminal(page, /\$\s*$/m);

      // A clone through the proxy; then the workspace itself becomes a
      // checkout of it (the project's main.py stays, untracked).
      await enterLine(page, `git clone -q ${host.repository_url} upstream && cat upstream/README && echo "cloned-$((6*7))"`);
      const cloned = await waitForTerminal(page, /cloned-42/, 60000);
      assert.match(cloned, /seeded by the test host/);
      await enterLine(page, `rm -rf upstream && git init -q -b main && git remote add origin ${host.repository_url} && git pull -q origin main && echo "pulled-$((6*7))"`);
      await waitForTerminal(page, /pulled-42/, 60000);
      // The README arrives in the tree through the workspace watch.
      await page.locator('[role="treeitem"][data-path="README"]').waitFor({ timeout: 15000 });

      // Edit, save and run in the editor.
      await page.locator('[role="treeitem"][data-path="main.py"]').click();
      await setCode(page, 'print("edited in the browser")\n');
      await page.keyboard.press('ControlOrMeta+S');
      await page.getByRole('button', { name: /^Run/ }).click();
      await outcome(page, /Exited with code 0/, 60000);
      await waitForConsole(page, /edited in the browser/);

      // Commit from the Source Control panel.
      await page.getByRole('button', { name: 'Source Control' }).click();
      const panel = page.getByRole('region', { name: 'Source Control' });
      await panel.getByRole('button', { name: 'Refresh' }).click();
      const untracked = panel.getByRole('region', { name: 'Untracked' });
      await untracked.getByRole('button', { name: 'main.py', exact: true }).waitFor({ timeout: 30000 });
      await untracked.getByRole('button', { name: 'Stage all untracked' }).click();
      await panel.getByRole('textbox', { name: 'Commit message' }).fill('from the browser');
      await panel.getByRole('button', { name: 'Commit' }).click();
      await panel.getByRole('list', { name: 'Commits' }).getByText('from the browser').waitFor({ timeout: 30000 });

      // Push from the panel: the branch follows nothing yet (`git pull
      // origin main` sets no upstream), so Push sends it to origin under
      // its name and follows origin/main from then on.
      const remote = panel.getByRole('group', { name: 'Remote' });
      await remote.getByText('No upstream').waitFor({ timeout: 30000 });
      await page.screenshot({ path: artifact('egress-commit.png') });
      await remote.getByRole('button', { name: 'Push' }).click();
      await remote.getByText('origin/main: 0 ahead, 0 behind').waitFor({ timeout: 60000 });
      const subject = execFileSync('git', ['--git-dir', host.repository, 'log', '-1', '--format=%s', 'main']).toString().trim();
      assert.equal(subject, 'from the browser');
      const pushed = execFileSync('git', ['--git-dir', host.repository, 'show', 'main:main.py']).toString();
      assert.equal(pushed, 'print("edited in the browser")\n');

      // Another commit, pushed from the test host's side, comes back with Pull.
      execFileSync('git', ['clone', '-q', host.repository, `${host.repository}-other`]);
      const other = `${host.repository}-other`;
      writeFileSync(`${other}/NEWS`, 'from elsewhere\n');
      execFileSync('git', ['-C', other, 'add', 'NEWS']);
      execFileSync('git', ['-C', other, '-c', 'user.name=Other', '-c', 'user.email=other@test.invalid', 'commit', '-q', '-m', 'from elsewhere']);
      execFileSync('git', ['-C', other, 'push', '-q', 'origin', 'main']);
      rmSync(other, { recursive: true, force: true });
      await remote.getByRole('button', { name: 'Fetch' }).click();
      await remote.getByText('origin/main: 0 ahead, 1 behind').waitFor({ timeout: 60000 });
      await remote.getByRole('button', { name: 'Pull' }).click();
      await panel.getByRole('list', { name: 'Commits' }).getByText('from elsewhere').waitFor({ timeout: 60000 });
      await remote.getByText('origin/main: 0 ahead, 0 behind').waitFor({ timeout: 30000 });
      await page.getByRole('tab', { name: /^Terminal( \(\d+\))?$/ }).click();
      await page.screenshot({ path: artifact('egress-panel.png') });
      // The pulled file reaches the tree through the workspace watch.
      await page.getByRole('button', { name: 'Close Source Control' }).click();
      await page.locator('[role="treeitem"][data-path="NEWS"]').waitFor({ timeout: 15000 });

      // Any other address is refused by the proxy, not reached.
      await page.getByRole('tab', { name: /^Terminal( \(\d+\))?$/ }).click();
      await enterLine(page, `curl -s -o /dev/null -w "status-%{http_code}\\n" http://169.254.169.254/ ; echo "asked-$((6*7))"`);
      const refused = await waitForTerminal(page, /asked-42/, 30000);
      assert.match(refused, /status-403/);
      await page.screenshot({ path: artifact('egress-terminal.png') });
    } finally {
      await context.close();
    }
  });
});

// What the IDE tells a person when the server says no or stops a program:
// the time limit and a full queue. A server of its own, with one running
// slot, one queue place and a 3 s wall-time limit, so both happen quickly.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newProject, openIde, outcome, setCode, suiteFixture, waitForConsole } from './harness.mjs';

const TINY = `
[admission]
max_running = 1
max_queued = 1

[limits.default]
wall_time_ms = 3000
`;

const SLEEPER = 'import time\nprint("sleeping", flush=True)\ntime.sleep(60)\n';

describe('limits in the IDE', () => {
  const fixture = suiteFixture({ config: TINY });

  it('says a program reached the time limit, with its figures', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await newProject(page, 'Sleepy', 'python', 'hello');
    await setCode(page, SLEEPER);
    await page.getByRole('button', { name: /^Run/ }).click();
    await waitForConsole(page, /sleeping/);
    assert.match(await outcome(page, 'Time limit reached', 15000), /^Time limit reached: the program was stopped$/);
    const text = await waitForConsole(page, /Time limit reached: the program was stopped \(wall (\d\.\d\d s|\d+ ms)/);
    assert.match(text, /wall 3\.\d\d s/);
    assert.equal(await page.getByRole('button', { name: /^Stop/ }).isDisabled(), true);
    await context.close();
  });

  it('shows a queued run waiting, and says clearly when the queue is full', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url);
    await newProject(page, 'Crowded', 'python', 'hello');
    await setCode(page, SLEEPER);
    const run = page.getByRole('button', { name: /^Run/ });
    await run.click();
    await waitForConsole(page, /sleeping/);
    // The one running slot is taken: the second run (in a console of its
    // own; Run would replace the first) waits in the one queue place…
    const another = page.getByRole('button', { name: /^Open another console/ });
    await another.click();
    await waitForConsole(page, /Waiting for a free slot \(position 1\)/);
    await page.getByTestId('console-outcome').filter({ hasText: 'queued #1' }).waitFor();
    // …and the third is refused at once, in words.
    await another.click();
    const said = await outcome(page, 'queue is full', 10000);
    assert.match(said, /^The server is busy \(its queue is full\)\. Try again in a moment\./);
    await waitForConsole(page, /✖ The server is busy \(its queue is full\)/, 5000);
    const tabs = page.getByRole('tab', { name: /^Console \d/ });
    assert.equal(await tabs.count(), 3);
    assert.match(await tabs.nth(2).getAttribute('aria-label'), /error$/);
    // Stopping the first lets the queued one run.
    await tabs.nth(0).click();
    await page.getByRole('button', { name: /^Stop/ }).click();
    await outcome(page, 'Stopped', 10000);
    await tabs.nth(1).click();
    await waitForConsole(page, /sleeping/, 15000);
    await page.getByRole('button', { name: /^Stop/ }).click();
    await outcome(page, 'Stopped', 10000);
    await context.close();
  });
});

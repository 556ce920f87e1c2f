// The IDE's header at the widths people use (issue 17): one row at 1024,
// 1280 and 1440 px, for a guest and for a signed-in user, and at 390 px
// on a phone, with nothing past the right edge. One row is read from the
// boxes of the header's items, not from pixels; a screenshot of each
// width is saved for people to look at.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { artifact, declineImport, newProject, openIde, signUpFromIde, suiteFixture, unique } from './harness.mjs';

const WIDTHS = [1024, 1280, 1440, 390];

/** The boxes of the header and of its visible items, in page pixels. */
async function headerBoxes(page) {
  return page.evaluate(() => {
    const header = document.querySelector('header.toolbar');
    const box = (el) => {
      const r = el.getBoundingClientRect();
      return { name: el.className || el.tagName, top: r.top, bottom: r.bottom, left: r.left, right: r.right };
    };
    // The header's items; a label's box is its select's, which could overflow it.
    const items = [...header.children]
      .filter((el) => !el.classList.contains('more-panel'))
      .flatMap((el) => (el.classList.contains('compact') ? [el.querySelector('select')] : el.classList.contains('run-group') ? [...el.children] : [el]))
      .map(box)
      .filter((b) => b.bottom > b.top && b.right > b.left);
    return { header: box(header), items, viewport: window.innerWidth, page: document.documentElement.scrollWidth };
  });
}

/** Fails unless every item of the header shares one row and all are on screen. */
async function assertOneRow(page, label) {
  const { header, items, viewport, page: pageWidth } = await headerBoxes(page);
  assert.ok(items.length >= 4, `${label}: only ${items.length} header items are visible`);
  for (const a of items) {
    assert.ok(a.left >= 0 && a.right <= viewport + 0.5, `${label}: ${a.name} spans ${a.left}…${a.right} of ${viewport} px`);
    for (const b of items) {
      // Two items on different rows do not overlap vertically.
      assert.ok(a.top < b.bottom && b.top < a.bottom, `${label}: ${a.name} and ${b.name} are on different rows`);
      // Nor do two items of one row cover each other.
      if (a !== b) assert.ok(a.right <= b.left + 0.5 || b.right <= a.left + 0.5, `${label}: ${a.name} and ${b.name} overlap`);
    }
  }
  const tallest = Math.max(...items.map((b) => b.bottom - b.top));
  assert.ok(header.bottom - header.top < tallest * 1.8, `${label}: the header is ${header.bottom - header.top} px high, its tallest item ${tallest} px`);
  assert.ok(pageWidth <= viewport, `${label}: the page is ${pageWidth} px wide in a ${viewport} px window`);
}

/** Fails unless the file panel's actions share one row inside the panel. */
async function assertFilesToolbarOneRow(page, label) {
  const { panel, buttons } = await page.evaluate(() => {
    const box = (el) => {
      const r = el.getBoundingClientRect();
      return { name: el.getAttribute('aria-label'), top: r.top, bottom: r.bottom, left: r.left, right: r.right };
    };
    const toolbar = document.querySelector('.files-toolbar');
    return { panel: box(toolbar), buttons: [...toolbar.querySelectorAll('button')].map(box) };
  });
  assert.ok(buttons.length >= 6, `${label}: ${buttons.length} file actions`);
  for (const b of buttons) {
    assert.ok(b.top < buttons[0].bottom && buttons[0].top < b.bottom, `${label}: ${b.name} is on another row than ${buttons[0].name}`);
    assert.ok(b.left >= panel.left - 0.5 && b.right <= panel.right + 0.5, `${label}: ${b.name} spans ${b.left}…${b.right}, the panel ${panel.left}…${panel.right}`);
  }
}

async function checkWidths(page, who) {
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: width < 700 ? 844 : 800 });
    // The layout follows the width (the phone's is another component tree).
    await page.waitForFunction((narrow) => !!document.querySelector('header.toolbar.one-row') === narrow, width < 760);
    await assertOneRow(page, `${who} at ${width} px`);
    if (width >= 760) await assertFilesToolbarOneRow(page, `the file panel of ${who} at ${width} px`);
    await page.screenshot({ path: artifact(`header-${who}-${width}.png`) });
  }
  console.log(`screenshots: ${artifact(`header-${who}-*.png`)}`);
}

describe('the header', () => {
  const fixture = suiteFixture();

  it('is one row at 1024, 1280, 1440 and 390 px, for a guest and a signed-in user (screenshots)', async (t) => {
    if (!fixture.ready(t)) return;
    const { context, page } = await openIde(fixture.browser, fixture.server.url, { viewport: { width: 1024, height: 800 } });
    // A long project name and the longest save state a guest sees.
    await newProject(page, 'A project with a rather long name', 'cpp', 'hello');
    await page.getByTestId('save-state').filter({ hasText: /^Kept in this browser$/ }).waitFor();
    await checkWidths(page, 'guest');

    await page.setViewportSize({ width: 1280, height: 800 });
    await signUpFromIde(page, unique('header-user'));
    await declineImport(page);
    await checkWidths(page, 'signed-in');

    // What left the desktop's row is one click away, on screen.
    await page.setViewportSize({ width: 1024, height: 800 });
    await page.getByRole('button', { name: 'More options' }).click();
    const panel = page.getByRole('group', { name: 'More options' });
    for (const label of ['Theme', 'Tab width']) await panel.getByLabel(label, { exact: true }).waitFor();
    await panel.getByRole('button', { name: 'Keyboard shortcuts' }).waitFor();
    const box = await panel.boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= 1024, `the panel spans ${box.x}…${box.x + box.width}`);
    await page.keyboard.press('Escape');
    await panel.waitFor({ state: 'detached' });
    await context.close();
  });
});

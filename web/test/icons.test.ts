// Icons never depend on a font's glyphs (issue 17): the page ships no
// font, and symbols such as 🗑, ⧉ or ＋ fall back to empty boxes where the
// system has none. Every icon is inline SVG, and no component draws a
// symbol character as an icon.
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { Icon, ICON_NAMES } from '../src/components/Icons/Icon';

/** Every .tsx file under src (the components that draw the page), by path. */
const COMPONENTS = import.meta.glob<string>('../src/**/*.tsx', { query: '?raw', import: 'default', eager: true });

/** The code without its comments (which may name a symbol). */
function withoutComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/**
 * Symbols (Unicode So and Sm, and the fullwidth forms), outside ASCII. ⌘ is
 * allowed: it is a key's printed name in shortcut text, not an icon.
 */
const SYMBOL = /[\p{So}\p{Sm}\uFF00-\uFFEF]/gu;
const ALLOWED = new Set(['⌘']);

describe('icons', () => {
  it('are inline SVG, each with something drawn, hidden from screen readers', () => {
    expect(ICON_NAMES.length).toBeGreaterThan(10);
    for (const name of ICON_NAMES) {
      const html = renderToStaticMarkup(createElement(Icon, { name }));
      expect(html, name).toMatch(/^<svg [^>]*aria-hidden="true"/);
      expect(html, name).toMatch(/<(path|rect|circle) /);
      // No text inside: nothing for a font to draw.
      expect(html.replace(/<[^>]*>/g, ''), name).toBe('');
    }
  });

  it('are never symbol characters in a component', () => {
    const files = Object.entries(COMPONENTS);
    expect(files.length).toBeGreaterThan(20);
    const found: string[] = [];
    for (const [file, text] of files) {
      for (const [symbol] of withoutComments(text).matchAll(SYMBOL)) {
        if (symbol.charCodeAt(0) >= 0x80 && !ALLOWED.has(symbol)) found.push(`${file}: ${symbol}`);
      }
    }
    expect(found).toEqual([]);
  });
});

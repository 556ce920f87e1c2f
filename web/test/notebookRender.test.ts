import { describe, expect, it } from 'vitest';
import { cssColor, cssOf, paletteOf, parseAnsi } from '../src/notebook/ansi';
import { preferredMime } from '../src/notebook/render';
import { DARK } from '../src/components/Consoles/themes';

describe('ANSI in outputs', () => {
  it('splits a traceback line into coloured runs and drops other escapes', () => {
    const runs = parseAnsi('\x1b[0;31mZeroDivisionError\x1b[0m: division by zero\x1b[2K\x1b]0;title\x07!');
    expect(runs.map((r) => r.text)).toEqual(['ZeroDivisionError', ': division by zero!']);
    expect(runs[0].style.fg).toBe(1);
    expect(runs[1].style.fg).toBeNull();
  });

  it('reads bold, bright, 256 and RGB colours', () => {
    const [bold, bright, indexed, rgb] = parseAnsi('\x1b[1;32ma\x1b[0;92mb\x1b[38;5;208mc\x1b[48;2;1;2;300md');
    expect(bold.style).toMatchObject({ bold: true, fg: 2 });
    expect(bright.style).toMatchObject({ bold: false, fg: 10 });
    expect(indexed.style.fg).toBe(208);
    expect(rgb.style.bg).toBe('#0102ff');
    expect(cssColor(208, paletteOf({}))).toBe('rgb(255,135,0)');
    expect(cssColor(232, paletteOf({}))).toBe('rgb(8,8,8)');
  });

  it('gives each run its CSS: bold brightens the basic colours, inverse swaps', () => {
    const palette = paletteOf({});
    const [bold, plain, inverse] = parseAnsi('\x1b[1;31ma\x1b[0mb\x1b[7;34mc');
    expect(cssOf(bold.style, palette)).toEqual({ color: palette[9], fontWeight: 'bold' });
    expect(cssOf(plain.style, palette)).toBeNull();
    expect(cssOf(inverse.style, palette)).toEqual({ color: 'var(--nb-output-bg)', backgroundColor: palette[4] });
  });

  it('uses the consoles’ colours', () => {
    const palette = paletteOf(DARK as Record<string, unknown>);
    expect(palette[1]).toBe(DARK.red);
    expect(palette[12]).toBe(DARK.brightBlue);
    expect(palette).toHaveLength(16);
  });
});

describe('which MIME type an output shows', () => {
  it('prefers HTML, then images, Markdown, JSON and plain text', () => {
    expect(preferredMime({ 'text/plain': 'x', 'text/html': '<b>' })).toBe('text/html');
    expect(preferredMime({ 'text/plain': 'x', 'image/png': 'iVBOR' })).toBe('image/png');
    expect(preferredMime({ 'image/svg+xml': '<svg/>', 'text/markdown': '#' })).toBe('image/svg+xml');
    expect(preferredMime({ 'application/json': {}, 'text/plain': '{}' })).toBe('application/json');
    expect(preferredMime({ 'application/x-unknown': 'z' })).toBeNull();
  });
});

// The consoles' ANSI red and blue read on their background (issue 17):
// WCAG 2 contrast, computed from the themes' colour values.
import { describe, expect, it } from 'vitest';
import type { ITheme } from '@xterm/xterm';
import { DARK, LIGHT } from '../src/components/Consoles/themes';

/** WCAG 2 relative luminance of a `#rrggbb` colour. */
function luminance(hex: string): number {
  expect(hex).toMatch(/^#[0-9a-f]{6}$/i);
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG 2 contrast ratio, 1 to 21. */
function contrast(a: string, b: string): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (light + 0.05) / (dark + 0.05);
}

const AA = 4.5;
const CHECKED = ['red', 'brightRed', 'blue', 'brightBlue'] as const;

describe('contrast ratio', () => {
  it('is 21 for black on white, 1 for a colour on itself, and symmetric', () => {
    expect(contrast('#000000', '#ffffff')).toBeCloseTo(21, 5);
    expect(contrast('#6ea8fe', '#6ea8fe')).toBe(1);
    expect(contrast('#ffffff', '#777777')).toBeCloseTo(contrast('#777777', '#ffffff'), 10);
    // xterm's default ANSI red on the dark console: the failure that was fixed.
    expect(contrast('#cd3131', '#14161a')).toBeLessThan(AA);
  });
});

describe.each([
  ['dark', DARK],
  ['light', LIGHT],
] as [string, ITheme][])('the %s console theme', (_name, theme) => {
  it.each(CHECKED)('has %s at WCAG AA against its background', (colour) => {
    const value = theme[colour];
    const background = theme.background;
    expect(value, `${colour} is set (xterm's default is not chosen for this background)`).toBeDefined();
    expect(background).toBeDefined();
    expect(contrast(value!, background!)).toBeGreaterThanOrEqual(AA);
  });
});

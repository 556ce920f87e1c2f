// The consoles' xterm.js colours, one set per theme. ANSI red and blue, and
// their bright variants, are chosen to read on the console's background at
// WCAG AA (4.5:1 or more; test/terminal-themes.test.ts computes it): xterm's
// defaults (#cd3131, #2472c8) fall short on the dark background, and its
// bright ones (#f14c4c, #3b8eea) on the light one.

import type { ITheme } from '@xterm/xterm';

export const DARK: ITheme = {
  background: '#14161a',
  foreground: '#d7dae0',
  cursor: '#d7dae0',
  selectionBackground: '#3a4150',
  red: '#ff6b6b',
  brightRed: '#ff9a9a',
  blue: '#6ea8fe',
  brightBlue: '#9cc3ff',
};

export const LIGHT: ITheme = {
  background: '#fbfbfc',
  foreground: '#1f2328',
  cursor: '#1f2328',
  selectionBackground: '#c8d7f0',
  red: '#c62828',
  brightRed: '#b71c1c',
  green: '#2e7d32',
  yellow: '#8d6e00',
  blue: '#1565c0',
  brightBlue: '#0d47a1',
  cyan: '#00838f',
  brightBlack: '#6b7280',
};

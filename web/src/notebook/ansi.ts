// Text with ANSI colour codes (a kernel's traceback, a coloured stream) as
// runs of text with their colours, for the notebook's outputs. The
// consoles draw ANSI through xterm.js, which is a whole terminal; an
// output is a piece of the page, so here only SGR codes (`ESC [ … m`:
// colours, bold, italic, underline) are read and every other escape
// sequence is dropped. The 16 colours are the consoles' own
// (components/Consoles/themes.ts), so a traceback looks the same in both.

export interface AnsiStyle {
  /** A colour index 0-255, or an `#rrggbb`. */
  fg: number | string | null;
  bg: number | string | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
  inverse: boolean;
}

export interface AnsiRun {
  text: string;
  style: AnsiStyle;
}

const PLAIN: AnsiStyle = { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false };

// CSI sequences (SGR and the rest), OSC strings, and lone two-character escapes.
const ESCAPE = /\x1b\[([0-9;:?]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?/g;

/** Splits text into runs of one style each. */
export function parseAnsi(text: string): AnsiRun[] {
  const runs: AnsiRun[] = [];
  let style = PLAIN;
  let at = 0;
  const push = (piece: string) => {
    if (!piece) return;
    const last = runs[runs.length - 1];
    if (last && last.style === style) last.text += piece;
    else runs.push({ text: piece, style });
  };
  for (const match of text.matchAll(ESCAPE)) {
    push(text.slice(at, match.index));
    at = match.index! + match[0].length;
    if (match[2] === 'm') style = applySgr(style, match[1]);
  }
  push(text.slice(at));
  return runs;
}

function applySgr(current: AnsiStyle, params: string): AnsiStyle {
  const codes = params === '' ? [0] : params.split(/[;:]/).map((p) => (p === '' ? 0 : Number(p)));
  let style = { ...current };
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i];
    if (code === 0) style = { ...PLAIN };
    else if (code === 1) style.bold = true;
    else if (code === 2) style.dim = true;
    else if (code === 3) style.italic = true;
    else if (code === 4) style.underline = true;
    else if (code === 7) style.inverse = true;
    else if (code === 22) style.bold = style.dim = false;
    else if (code === 23) style.italic = false;
    else if (code === 24) style.underline = false;
    else if (code === 27) style.inverse = false;
    else if (code >= 30 && code <= 37) style.fg = code - 30;
    else if (code === 39) style.fg = null;
    else if (code >= 40 && code <= 47) style.bg = code - 40;
    else if (code === 49) style.bg = null;
    else if (code >= 90 && code <= 97) style.fg = code - 90 + 8;
    else if (code >= 100 && code <= 107) style.bg = code - 100 + 8;
    else if (code === 38 || code === 48) {
      const target = code === 38 ? 'fg' : 'bg';
      if (codes[i + 1] === 5 && i + 2 < codes.length) {
        style[target] = clamp(codes[i + 2]);
        i += 2;
      } else if (codes[i + 1] === 2 && i + 4 < codes.length) {
        style[target] = `#${codes.slice(i + 2, i + 5).map((c) => clamp(c).toString(16).padStart(2, '0')).join('')}`;
        i += 4;
      }
    }
  }
  return style;
}

const clamp = (n: number) => Math.max(0, Math.min(255, Number.isFinite(n) ? Math.trunc(n) : 0));

/** The 16 colours of a theme, in ANSI order (black, red, …, bright white). */
export type Palette = string[];

const NAMES = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];

/** xterm.js's default colours, where a console theme does not set one. */
const XTERM_DEFAULTS = [
  '#2e3436', '#cd0000', '#00cd00', '#cdcd00', '#0000ee', '#cd00cd', '#00cdcd', '#e5e5e5',
  '#7f7f7f', '#ff0000', '#00ff00', '#ffff00', '#5c5cff', '#ff00ff', '#00ffff', '#ffffff',
];

/** The 16 colours of a console theme (an xterm.js `ITheme`). */
export function paletteOf(theme: Record<string, unknown>): Palette {
  return XTERM_DEFAULTS.map((fallback, i) => {
    const name = i < 8 ? NAMES[i] : `bright${NAMES[i - 8][0].toUpperCase()}${NAMES[i - 8].slice(1)}`;
    const value = theme[name];
    return typeof value === 'string' ? value : fallback;
  });
}

/** The CSS colour of an ANSI colour (index or `#rrggbb`). */
export function cssColor(color: number | string, palette: Palette): string {
  if (typeof color === 'string') return color;
  if (color < 16) return palette[color];
  if (color >= 232) {
    const level = 8 + (color - 232) * 10;
    return `rgb(${level},${level},${level})`;
  }
  const n = color - 16;
  const steps = [0, 95, 135, 175, 215, 255];
  return `rgb(${steps[Math.floor(n / 36)]},${steps[Math.floor(n / 6) % 6]},${steps[n % 6]})`;
}

/** The CSS of a run's style (for a React `style` or an element's), or null when it is plain. */
export function cssOf(style: AnsiStyle, palette: Palette): Record<string, string> | null {
  let fg = style.fg;
  let bg = style.bg;
  // Bold makes the 8 basic colours bright, as terminals do.
  if (style.bold && typeof fg === 'number' && fg < 8) fg += 8;
  if (style.inverse) [fg, bg] = [bg ?? 'var(--nb-output-bg)', fg ?? 'var(--nb-output-fg)'];
  const css: Record<string, string> = {};
  if (fg !== null) css.color = cssColor(fg, palette);
  if (bg !== null) css.backgroundColor = cssColor(bg, palette);
  if (style.bold) css.fontWeight = 'bold';
  if (style.dim) css.opacity = '0.7';
  if (style.italic) css.fontStyle = 'italic';
  if (style.underline) css.textDecoration = 'underline';
  return Object.keys(css).length ? css : null;
}

// Per-browser settings: theme, tab width, and whether a save formats first.

import { Store } from './store';
import type { KeyValue } from './workspace';

export type Theme = 'system' | 'light' | 'dark';

export interface Settings {
  theme: Theme;
  tabWidth: number;
  /** A save formats the file through its language server first (if it has one). */
  formatOnSave: boolean;
}

const KEY = 'bytesbox.settings';
const DEFAULTS: Settings = { theme: 'system', tabWidth: 4, formatOnSave: false };

export class SettingsStore extends Store<Settings> {
  constructor(private kv: KeyValue) {
    let stored: Partial<Settings> = {};
    try {
      stored = JSON.parse(kv.getItem(KEY) ?? '{}') as Partial<Settings>;
    } catch {
      stored = {};
    }
    const theme = ['system', 'light', 'dark'].includes(stored.theme as string) ? (stored.theme as Theme) : 'system';
    const tabWidth = [2, 4, 8].includes(stored.tabWidth as number) ? (stored.tabWidth as number) : 4;
    super({ ...DEFAULTS, theme, tabWidth, formatOnSave: stored.formatOnSave === true });
  }

  update(change: Partial<Settings>) {
    const next = { ...this.get(), ...change };
    this.kv.setItem(KEY, JSON.stringify(next));
    this.set(next);
  }
}

/** The theme actually shown. */
export function resolveTheme(theme: Theme, prefersDark: boolean): 'light' | 'dark' {
  return theme === 'system' ? (prefersDark ? 'dark' : 'light') : theme;
}

// The editor's support per catalog id (crates/runtimes/catalog.toml): each
// CodeMirror language mode is loaded on first use, so the initial bundle
// holds none of them. Which id a file has comes from the server's list
// (languages.ts); a catalog language missing here is edited as plain text.

import type { Extension } from '@codemirror/state';
import { StreamLanguage } from '@codemirror/language';
import type { Runtime } from '../api/client';
import { extensionOf, languageOfPath } from '../languages';

const loaders: Record<string, () => Promise<Extension>> = {
  python: () => import('@codemirror/lang-python').then((m) => m.python()),
  javascript: () => import('@codemirror/lang-javascript').then((m) => m.javascript()),
  typescript: () => import('@codemirror/lang-javascript').then((m) => m.javascript({ typescript: true })),
  java: () => import('@codemirror/lang-java').then((m) => m.java()),
  c: () => import('@codemirror/lang-cpp').then((m) => m.cpp()),
  cpp: () => import('@codemirror/lang-cpp').then((m) => m.cpp()),
  go: () => import('@codemirror/lang-go').then((m) => m.go()),
  rust: () => import('@codemirror/lang-rust').then((m) => m.rust()),
  sqlite: () => import('@codemirror/lang-sql').then((m) => m.sql({ dialect: m.SQLite })),
  mysql: () => import('@codemirror/lang-sql').then((m) => m.sql({ dialect: m.MariaSQL })),
  postgresql: () => import('@codemirror/lang-sql').then((m) => m.sql({ dialect: m.PostgreSQL })),
  ruby: () => import('@codemirror/legacy-modes/mode/ruby').then((m) => StreamLanguage.define(m.ruby)),
  bash: () => import('@codemirror/legacy-modes/mode/shell').then((m) => StreamLanguage.define(m.shell)),
};

/** The catalog ids the editor colours. */
export const EDITOR_MODES = Object.keys(loaders);

/** Files that are no language's entry but are edited in one's mode. */
const OTHER_FILES: Record<string, string | null> = {
  ...Object.fromEntries(['h', 'hpp', 'hh', 'hxx', 'h++', 'ipp', 'tpp', 'inl'].map((ext) => [ext, 'cpp'])),
  json: 'javascript',
  md: null,
};

/** Which editor mode a file gets. */
export function modeOfPath(languages: Runtime[], path: string): string | null {
  const ext = extensionOf(path);
  if (ext in OTHER_FILES) return OTHER_FILES[ext];
  return languageOfPath(languages, path)?.id ?? null;
}

const cache = new Map<string, Promise<Extension>>();

export function loadMode(mode: string | null): Promise<Extension> {
  if (!mode || !(mode in loaders)) return Promise.resolve([]);
  let loading = cache.get(mode);
  if (!loading) {
    loading = loaders[mode]().catch((e) => {
      cache.delete(mode);
      throw e;
    });
    cache.set(mode, loading);
  }
  return loading;
}

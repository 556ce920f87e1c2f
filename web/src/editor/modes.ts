// Editor language modes, each loaded on first use so the initial bundle
// holds none of them.

import type { Extension } from '@codemirror/state';
import { StreamLanguage } from '@codemirror/language';

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
  ruby: () => import('@codemirror/legacy-modes/mode/ruby').then((m) => StreamLanguage.define(m.ruby)),
  bash: () => import('@codemirror/legacy-modes/mode/shell').then((m) => StreamLanguage.define(m.shell)),
};

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

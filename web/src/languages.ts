// The languages are the server's (`GET /api/v1/runtimes`, store/runtimes.ts):
// their ids, names and extensions come from its catalog and are not
// repeated here. What the editor needs per catalog id (its CodeMirror
// support) is the only local table, in editor/modes.ts.

import type { Runtime } from './api/client';

export function extensionOf(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? '' : name.slice(dot + 1).toLowerCase();
}

/** The language a file's extension implies, or null. */
export function languageOfPath(languages: Runtime[], path: string): Runtime | null {
  const ext = extensionOf(path);
  return languages.find((l) => l.extensions.includes(ext)) ?? null;
}

export function languageName(languages: Runtime[], id: string): string {
  return languages.find((l) => l.id === id)?.name ?? id;
}

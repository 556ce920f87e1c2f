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

/**
 * The language a file's extension implies, or null: as the server's catalog
 * decides, never a language picked only by name.
 */
export function languageOfPath(languages: Runtime[], path: string): Runtime | null {
  const ext = extensionOf(path);
  return languages.find((l) => !l.named_only && l.extensions.includes(ext)) ?? null;
}

/**
 * Whether a file can be run, as far as the server's list says: a source of
 * one of its languages. While the list is unknown, any file may be.
 */
export function isSourceFile(languages: Runtime[], path: string): boolean {
  return !languages.length || languageOfPath(languages, path) !== null;
}

export function languageName(languages: Runtime[], id: string): string {
  return languages.find((l) => l.id === id)?.name ?? id;
}

/**
 * How a picker offers a language: one this server has not installed is
 * disabled and says why (the server's reason, which names the missing tool
 * and never a path of the server).
 */
export function languageChoice(language: Runtime): { label: string; disabled: boolean; title?: string } {
  if (language.available) return { label: language.name, disabled: false };
  const reason = language.reason?.trim() || 'its tools are missing';
  const short = reason.length > 80 ? `${reason.slice(0, 79)}…` : reason;
  return { label: `${language.name} — unavailable: ${short}`, disabled: true, title: reason };
}

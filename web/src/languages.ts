// The catalog's languages as the UI knows them (crates/runtimes/catalog.toml).
// The server's GET /api/v1/runtimes says which ones this host can run.

export interface LanguageInfo {
  id: string;
  name: string;
  extensions: string[];
}

export const LANGUAGES: LanguageInfo[] = [
  { id: 'python', name: 'Python', extensions: ['py'] },
  { id: 'javascript', name: 'JavaScript', extensions: ['js', 'mjs', 'cjs'] },
  { id: 'typescript', name: 'TypeScript', extensions: ['ts'] },
  { id: 'java', name: 'Java', extensions: ['java'] },
  { id: 'c', name: 'C', extensions: ['c'] },
  { id: 'cpp', name: 'C++', extensions: ['cpp', 'cc', 'cxx', 'c++'] },
  { id: 'go', name: 'Go', extensions: ['go'] },
  { id: 'rust', name: 'Rust', extensions: ['rs'] },
  { id: 'ruby', name: 'Ruby', extensions: ['rb'] },
  { id: 'bash', name: 'Bash', extensions: ['sh', 'bash'] },
  { id: 'sqlite', name: 'SQLite', extensions: ['sql'] },
];

export function extensionOf(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? '' : name.slice(dot + 1).toLowerCase();
}

/** The language an entry file implies, or null. */
export function languageOfPath(path: string): LanguageInfo | null {
  const ext = extensionOf(path);
  return LANGUAGES.find((l) => l.extensions.includes(ext)) ?? null;
}

export function languageName(id: string): string {
  return LANGUAGES.find((l) => l.id === id)?.name ?? id;
}

/** Which editor mode a file gets (headers use their language's mode). */
export function modeOfPath(path: string): string | null {
  const ext = extensionOf(path);
  if (['h', 'hpp', 'hh', 'hxx', 'h++', 'ipp', 'tpp', 'inl'].includes(ext)) return 'cpp';
  if (ext === 'json') return 'javascript';
  if (ext === 'md') return null;
  return languageOfPath(path)?.id ?? null;
}

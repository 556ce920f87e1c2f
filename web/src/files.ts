// Moving files in and out of the browser: the run request, zip downloads
// and uploads.

import { strToU8, zipSync } from 'fflate';
import type { WireFile } from './protocol/types';
import type { Project } from './store/project';
import { currentText, entryFile } from './store/project';
import { isSourceFile, languageOfPath } from './languages';
import type { Runtime } from './api/client';
import { wantsSqlResults } from './sql/results';

/**
 * What a run sends: every file as the editor shows it, and how to start
 * (no entry: the server's catalog chooses it).
 * The language is the project's, else the one the entry's extension
 * implies among `languages` (none while they are unknown: the server then
 * infers it the same way).
 */
export function runRequestOf(
  project: Project,
  languages: Runtime[],
): { files: WireFile[]; entry?: string; language?: string; sql_results?: boolean } {
  const files: WireFile[] = Object.keys(project.files)
    .sort()
    .map((path) => {
      const file = project.files[path];
      if (file.base64 && !(path in project.drafts)) return { path, content: file.content, encoding: 'base64' };
      return { path, content: currentText(project, path) };
    });
  const entry = entryFile(project, (path) => isSourceFile(languages, path)) ?? undefined;
  const inferred = entry ? languageOfPath(languages, entry)?.id : undefined;
  const language = project.language ?? inferred;
  // The SQL servers' runs come back as tables (src/sql/results.ts).
  const structured = wantsSqlResults(languages, language);
  return { files, ...(entry ? { entry } : {}), ...(language ? { language } : {}), ...(structured ? { sql_results: true } : {}) };
}

function bytesOf(project: Project, path: string): Uint8Array {
  const file = project.files[path];
  if (file.base64 && !(path in project.drafts)) {
    const binary = atob(file.content);
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }
  return strToU8(currentText(project, path));
}

/** A zip of the project, or of one folder of it (paths inside stay relative to that folder). */
export function zipOf(project: Project, folder = ''): Uint8Array {
  const prefix = folder ? folder + '/' : '';
  const entries: Record<string, Uint8Array> = {};
  for (const path of Object.keys(project.files)) {
    if (prefix && !path.startsWith(prefix)) continue;
    entries[path.slice(prefix.length)] = bytesOf(project, path);
  }
  for (const dir of project.folders) {
    if (prefix && !dir.startsWith(prefix)) continue;
    const rel = dir.slice(prefix.length);
    if (rel && !Object.keys(entries).some((p) => p.startsWith(rel + '/'))) entries[rel + '/'] = new Uint8Array();
  }
  return zipSync(entries, { level: 6 });
}

export function fileBytes(project: Project, path: string): Uint8Array {
  return bytesOf(project, path);
}

/** Offers bytes to the user as a download. */
export function download(name: string, bytes: Uint8Array, type = 'application/octet-stream') {
  const blob = new Blob([bytes as BlobPart], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** Reads an uploaded file: text when it is UTF-8, else base64. */
export async function readUpload(file: Blob): Promise<{ content: string; base64: boolean }> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    if (!text.includes('\u0000')) return { content: text, base64: false };
  } catch {
    /* binary */
  }
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { content: btoa(binary), base64: true };
}

// Project-wide search and replace, as pure functions over a project: what
// the editor shows (drafts included) is what is searched and replaced.
// Binary (base64) files are neither. Replacing makes drafts, saved as any
// edit is (Ctrl+S, Run, autosave for a saved project), and can be undone.

import { ProjectError, currentText, editFile, type Project } from './project';

export interface SearchOptions {
  caseSensitive: boolean;
  regex: boolean;
  wholeWord: boolean;
}

export interface SearchMatch {
  path: string;
  /** 1-based, as the editor and the Problems panel count. */
  line: number;
  column: number;
  length: number;
  /** The line's text without its indentation (cut to a window around the match when long). */
  preview: string;
  /** Where the match starts in `preview`. */
  previewAt: number;
}

export interface SearchResult {
  matches: SearchMatch[];
  /** More matches were found than are listed. */
  truncated: boolean;
  /** The query cannot be read (a regular expression with an error). */
  error: string | null;
}

/** The most matches listed: enough to see, few enough to render at once. */
export const MAX_MATCHES = 2000;
const PREVIEW_CHARS = 160;

/** The query as a global regular expression, or an error in words. */
export function patternOf(query: string, options: SearchOptions): RegExp | string {
  let source = options.regex ? query : query.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  if (options.wholeWord) source = `\\b(?:${source})\\b`;
  try {
    return new RegExp(source, options.caseSensitive ? 'gu' : 'giu');
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

function searchable(project: Project, path: string): boolean {
  return !project.files[path]?.base64 || path in project.drafts;
}

export function searchProject(project: Project, query: string, options: SearchOptions): SearchResult {
  if (!query) return { matches: [], truncated: false, error: null };
  const pattern = patternOf(query, options);
  if (typeof pattern === 'string') return { matches: [], truncated: false, error: pattern };
  const matches: SearchMatch[] = [];
  for (const path of Object.keys(project.files).sort()) {
    if (!searchable(project, path)) continue;
    const lines = currentText(project, path).split('\n');
    for (let i = 0; i < lines.length; i++) {
      const text = lines[i];
      pattern.lastIndex = 0;
      for (let m = pattern.exec(text); m; m = pattern.exec(text)) {
        // An empty match (`^`, `a*`) would find itself forever.
        if (m[0].length === 0) {
          pattern.lastIndex++;
          continue;
        }
        if (matches.length === MAX_MATCHES) return { matches, truncated: true, error: null };
        matches.push({ path, line: i + 1, column: m.index + 1, length: m[0].length, ...previewOf(text, m.index) });
      }
    }
  }
  return { matches, truncated: false, error: null };
}

function previewOf(text: string, at: number): { preview: string; previewAt: number } {
  const indent = Math.min(text.length - text.trimStart().length, at);
  const start = text.length - indent <= PREVIEW_CHARS ? indent : Math.max(indent, at - 40);
  const cut = start > indent ? '…' : '';
  const shown = text.slice(start, start + PREVIEW_CHARS);
  const more = start + PREVIEW_CHARS < text.length ? '…' : '';
  return { preview: cut + shown + more, previewAt: cut.length + at - start };
}

/**
 * Replaces every match in `paths` (all files when not given). With a
 * regular expression `$1` and `$<name>` in `replacement` are its groups;
 * otherwise the replacement is taken literally. Returns the project and
 * how many were replaced.
 */
export function replaceInProject(
  project: Project,
  query: string,
  replacement: string,
  options: SearchOptions,
  paths?: string[],
): { project: Project; replaced: number; changed: Record<string, { before: string; after: string }> } {
  const changed: Record<string, { before: string; after: string }> = {};
  if (!query) return { project, replaced: 0, changed };
  const pattern = patternOf(query, options);
  if (typeof pattern === 'string') return { project, replaced: 0, changed };
  let next = project;
  let replaced = 0;
  for (const path of paths ?? Object.keys(project.files)) {
    if (!(path in project.files) || !searchable(project, path)) continue;
    const before = currentText(next, path);
    const after = before.replace(pattern, (...args: unknown[]) => {
      const match = args[0] as string;
      if (match.length === 0) return match;
      replaced++;
      if (!options.regex) return replacement;
      const named = typeof args[args.length - 1] === 'object' ? (args[args.length - 1] as Record<string, string>) : undefined;
      const groups = args.slice(1, named ? -3 : -2) as (string | undefined)[];
      return expandGroups(replacement, match, groups, named);
    });
    if (after !== before) {
      next = editFile(next, path, after);
      changed[path] = { before, after };
    }
  }
  return { project: next, replaced, changed };
}

/**
 * Undoes a Replace all: each changed file back to its text before, but
 * only while every one still reads as the replace left it (an edit made
 * since is never thrown away).
 */
export function revertReplace(project: Project, changed: Record<string, { before: string; after: string }>): Project {
  for (const [path, { after }] of Object.entries(changed)) {
    if (!(path in project.files) || currentText(project, path) !== after) {
      throw new ProjectError(`${path} has changed since the replace: undo it there by hand`);
    }
  }
  let next = project;
  for (const [path, { before }] of Object.entries(changed)) next = editFile(next, path, before);
  return next;
}

/** `$&`, `$1`…`$99`, `$<name>` and `$$` in a replacement, as `String.replace` reads them. */
function expandGroups(replacement: string, match: string, groups: (string | undefined)[], named?: Record<string, string>): string {
  return replacement.replace(/\$(\$|&|\d{1,2}|<([^>]*)>)/g, (whole, what: string, name: string | undefined) => {
    if (what === '$') return '$';
    if (what === '&') return match;
    if (name !== undefined) return named?.[name] ?? '';
    const index = Number(what);
    return index >= 1 && index <= groups.length ? (groups[index - 1] ?? '') : whole;
  });
}

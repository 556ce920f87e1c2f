// Project-wide search and replace, in the files column (Ctrl/⌘+Shift+F):
// every match of the open project's files, each a link to its line;
// Replace all asks first, leaves the changes as unsaved edits, and offers Undo.

import { useDeferredValue, useMemo, useState } from 'react';
import type { Project } from '../../store/project';
import { replaceInProject, revertReplace, searchProject, type SearchMatch, type SearchOptions } from '../../store/search';
import type { NoticeAction } from '../../app/useNotice';
import type { ChangeProject } from '../../app/useProjectChange';
import type { SourceLocation } from '../Problems/Problems';
import { Icon } from '../Icons/Icon';

export function Search({
  project,
  change,
  confirm,
  onJump,
  onReplaced,
  onClose,
}: {
  project: Project;
  change: ChangeProject;
  confirm: (title: string, message: string, confirm: string) => Promise<boolean>;
  onJump: (at: SourceLocation) => void;
  onReplaced: (message: string, undo: NoticeAction) => void;
  onClose: () => void;
}) {
  const [query, setQuery] = useState('');
  const [replacement, setReplacement] = useState('');
  const [options, setOptions] = useState<SearchOptions>({ caseSensitive: false, regex: false, wholeWord: false });
  // Typing in the field stays quick however large the project.
  const deferredQuery = useDeferredValue(query);
  const result = useMemo(() => searchProject(project, deferredQuery, options), [project, deferredQuery, options]);
  const byFile = useMemo(() => {
    const groups = new Map<string, SearchMatch[]>();
    for (const match of result.matches) groups.set(match.path, [...(groups.get(match.path) ?? []), match]);
    return [...groups];
  }, [result]);

  /** Replaces in `paths` (every file when not given), then offers Undo. */
  const replaceIn = (paths?: string[]) => {
    let outcome: ReturnType<typeof replaceInProject> | null = null;
    const done = change((p) => {
      outcome = replaceInProject(p, query, replacement, options, paths);
      return outcome.project;
    });
    if (!done || !outcome) return;
    const { replaced, changed } = outcome;
    const files = Object.keys(changed).length;
    onReplaced(`Replaced ${replaced} match${replaced === 1 ? '' : 'es'} in ${files} file${files === 1 ? '' : 's'}.`, {
      label: 'Undo',
      run: () => change((p) => revertReplace(p, changed)),
    });
  };

  const replaceAll = async () => {
    const count = result.matches.length;
    const files = byFile.length;
    const ok = await confirm(
      `Replace ${count}${result.truncated ? '+' : ''} match${count === 1 ? '' : 'es'}?`,
      `Every match of “${query}” in ${files} file${files === 1 ? '' : 's'} becomes “${replacement}”. The files stay unsaved until you save (or run).`,
      'Replace all',
    );
    if (ok) replaceIn();
  };

  const toggle = (key: keyof SearchOptions, label: string, text: string) => (
    <label className="search-toggle" title={label}>
      <input type="checkbox" checked={options[key]} onChange={(e) => setOptions({ ...options, [key]: e.target.checked })} aria-label={label} />
      <span aria-hidden="true">{text}</span>
    </label>
  );

  return (
    <section className="files search" aria-label="Search in project">
      <div className="files-toolbar search-head">
        <strong>Search</strong>
        <button type="button" className="icon" aria-label="Close search" title="Back to the files" onClick={onClose}>
          <Icon name="close" />
        </button>
      </div>
      <form
        className="search-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (result.matches[0]) onJump(locationOf(result.matches[0]));
        }}
      >
        <input
          autoFocus
          type="search"
          aria-label="Search in project"
          placeholder="Search"
          value={query}
          spellCheck={false}
          onChange={(e) => setQuery(e.target.value)}
          onKeyDown={(e) => e.key === 'Escape' && onClose()}
        />
        <div className="search-toggles">
          {toggle('caseSensitive', 'Match case', 'Aa')}
          {toggle('wholeWord', 'Whole word', 'ab')}
          {toggle('regex', 'Regular expression', '.*')}
        </div>
        <input
          aria-label="Replace with"
          placeholder="Replace"
          value={replacement}
          spellCheck={false}
          onChange={(e) => setReplacement(e.target.value)}
        />
        <button type="button" disabled={!result.matches.length} onClick={() => void replaceAll()}>
          Replace all
        </button>
      </form>
      <p className="search-summary" role="status">
        {result.error
          ? `Not a regular expression: ${result.error}`
          : deferredQuery
            ? `${result.matches.length}${result.truncated ? '+' : ''} result${result.matches.length === 1 ? '' : 's'} in ${byFile.length} file${byFile.length === 1 ? '' : 's'}`
            : ''}
      </p>
      <ul className="search-results">
        {byFile.map(([path, matches]) => (
          <li key={path}>
            <div className="search-file">
              <span>{path}</span>
              {/* One file's matches: no question asked, Undo offered. */}
              <button type="button" className="icon" aria-label={`Replace in ${path}`} title={`Replace the matches in ${path}`} onClick={() => replaceIn([path])}>
                <Icon name="replace" />
              </button>
            </div>
            <ul>
              {matches.map((m) => (
                <li key={`${m.line}:${m.column}`}>
                  <button type="button" className="search-match" title={`Go to ${path}:${m.line}:${m.column}`} onClick={() => onJump(locationOf(m))}>
                    <span className="search-line">{m.line}</span>
                    <span className="search-preview">
                      {m.preview.slice(0, m.previewAt)}
                      <mark>{m.preview.slice(m.previewAt, m.previewAt + m.length)}</mark>
                      {m.preview.slice(m.previewAt + m.length)}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          </li>
        ))}
      </ul>
    </section>
  );
}

function locationOf(match: SearchMatch): SourceLocation {
  return { file: match.path, line: match.line, column: match.column };
}

// Problems of a run as CodeMirror diagnostics: a gutter mark on the line
// and the spot underlined, from the column to the end of the word there
// (or the whole line when the tool gave no column).

import type { Text } from '@codemirror/state';
import type { EditorView } from '@codemirror/view';
import { forEachDiagnostic, setDiagnostics, type Diagnostic } from '@codemirror/lint';
import type { Problem } from '../problems/parse';

export function diagnosticsOf(doc: Text, problems: Problem[]): Diagnostic[] {
  return problems
    .filter((p) => p.line >= 1 && p.line <= doc.lines)
    .map((p) => {
      const line = doc.line(p.line);
      if (p.column === null) return { from: line.from, to: line.to, severity: p.severity, message: p.message, source: p.source };
      const from = Math.min(line.from + p.column - 1, line.to);
      const word = /^[\w$]+/.exec(doc.sliceString(from, line.to))?.[0].length ?? 1;
      return { from, to: Math.min(from + word, line.to), severity: p.severity, message: p.message, source: p.source };
    });
}

/** Where a diagnostic comes from: the last run's output, or a language server as you type. */
export type DiagnosticOrigin = 'run' | 'lsp';

/** The mark class that tells a language server's diagnostics from a run's problems. */
export const LSP_MARK = 'cm-lsp-diagnostic';

/**
 * Replaces the diagnostics of one origin in `view`, keeping the other's
 * where they are now (moved with the edits since they were set): the lint
 * extension holds one set per editor, and a run's problems must not wipe
 * the server's, nor the server's the run's.
 */
export function replaceDiagnostics(view: EditorView, origin: DiagnosticOrigin, diagnostics: Diagnostic[]) {
  const kept: Diagnostic[] = [];
  forEachDiagnostic(view.state, (d, from, to) => {
    if ((d.markClass === LSP_MARK) !== (origin === 'lsp')) kept.push({ ...d, from, to });
  });
  const marked = origin === 'lsp' ? diagnostics.map((d) => ({ ...d, markClass: LSP_MARK })) : diagnostics;
  view.dispatch(setDiagnostics(view.state, [...kept, ...marked]));
}

// The language servers' IDE side: URIs of the box's workspace, and
// diagnostics of a server kept apart from a run's problems.
import { describe, expect, it } from 'vitest';
import { EditorState, type TransactionSpec } from '@codemirror/state';
import type { EditorView } from '@codemirror/view';
import { forEachDiagnostic, type Diagnostic } from '@codemirror/lint';
import { LSP_MARK, replaceDiagnostics } from '../src/editor/diagnostics';
import { DEFAULT_ROOT, RestartPolicy, pathOf, uriOf } from '../src/editor/lsp';
import { applyEdits, editsByUri, offsetOf } from '../src/editor/lspRename';

function shown(view: EditorView): { message: string; from: number; lsp: boolean }[] {
  const all: { message: string; from: number; lsp: boolean }[] = [];
  forEachDiagnostic(view.state, (d, from) => all.push({ message: d.message, from, lsp: d.markClass === LSP_MARK }));
  return all.sort((a, b) => a.message.localeCompare(b.message));
}

/** The part of a view the diagnostics use (the tests have no DOM). */
function viewOf(doc: string): EditorView {
  const view = {
    state: EditorState.create({ doc }),
    dispatch(spec: TransactionSpec) {
      view.state = view.state.update(spec).state;
    },
  };
  return view as unknown as EditorView;
}

const diagnostic = (message: string, from: number): Diagnostic => ({ from, to: from + 1, severity: 'error', message });

describe('language servers in the editor', () => {
  it('maps project paths to the box workspace and back', () => {
    expect(DEFAULT_ROOT).toBe('file:///workspace');
    const uri = uriOf(DEFAULT_ROOT, 'src/my file#1.py');
    expect(uri).toBe('file:///workspace/src/my%20file%231.py');
    expect(pathOf(DEFAULT_ROOT, uri)).toBe('src/my file#1.py');
    expect(pathOf(DEFAULT_ROOT, 'file:///usr/include/stdio.h')).toBeNull();
    expect(pathOf(DEFAULT_ROOT, 'file:///workspace2/x.py')).toBeNull();
  });

  it("keeps a run's problems and a server's diagnostics apart", () => {
    const view = viewOf('abcdefghij');
    replaceDiagnostics(view, 'run', [diagnostic('compiler says', 1)]);
    replaceDiagnostics(view, 'lsp', [diagnostic('server says', 5)]);
    expect(shown(view)).toEqual([
      { message: 'compiler says', from: 1, lsp: false },
      { message: 'server says', from: 5, lsp: true },
    ]);
    // An edit moves both; the server's next word replaces only its own.
    view.dispatch({ changes: { from: 0, insert: 'XX' } });
    replaceDiagnostics(view, 'lsp', [diagnostic('server again', 0)]);
    expect(shown(view)).toEqual([
      { message: 'compiler says', from: 3, lsp: false },
      { message: 'server again', from: 0, lsp: true },
    ]);
    // The next run's problems replace only the run's.
    replaceDiagnostics(view, 'run', []);
    expect(shown(view).map((d) => d.message)).toEqual(['server again']);
  });

  it('starts a server again after a cull, but not after three quick failures', () => {
    const policy = new RestartPolicy();
    policy.ended(30 * 60000, 'culled');
    policy.ended(1000, 'killed');
    expect(policy.mayStart()).toBe(true);
    policy.ended(null, 'spawn_failed');
    policy.ended(200, 'nonzero');
    expect(policy.mayStart()).toBe(true);
    policy.ended(300, 'memory_limit');
    expect(policy.mayStart()).toBe(false);
    // A server that lived long had ended for other reasons.
    const lived = new RestartPolicy();
    for (let i = 0; i < 5; i++) lived.ended(120000, 'memory_limit');
    expect(lived.mayStart()).toBe(true);
  });
});

describe('rename across files', () => {
  const at = (line: number, character: number) => ({ line, character });
  const edit = (line: number, from: number, to: number, newText: string) => ({ range: { start: at(line, from), end: at(line, to) }, newText });

  it('reads both forms of a workspace edit, and refuses file operations', () => {
    const byUri = editsByUri({
      changes: { 'file:///workspace/a.py': [edit(0, 4, 9, 'b')] },
      documentChanges: [{ textDocument: { uri: 'file:///workspace/c.py' }, edits: [edit(1, 0, 5, 'b')] }],
    });
    expect(byUri instanceof Map && [...byUri.keys()]).toEqual(['file:///workspace/a.py', 'file:///workspace/c.py']);
    expect(editsByUri({ documentChanges: [{ kind: 'rename' }] })).toMatch(/rename a file/);
  });

  it('finds positions in UTF-16 units, clamped to the line and the text as the protocol says', () => {
    const text = 'é = 1\n😀x = greet\n';
    expect(offsetOf(text, at(1, 2))).toBe(text.indexOf('x'));
    expect(offsetOf(text, at(0, 99))).toBe(text.indexOf('\n'));
    expect(offsetOf(text, at(5, 0))).toBe(text.length);
  });

  it('applies edits, a whole-file one as pylsp sends it too, and refuses overlapping ones', () => {
    const text = 'import helpers\nprint(helpers.greet("x"), helpers.greet("y"))';
    const renamed = 'import helpers\nprint(helpers.welcome("x"), helpers.welcome("y"))';
    expect(applyEdits(text, [edit(1, 14, 19, 'welcome'), edit(1, 34, 39, 'welcome')])).toBe(renamed);
    // pylsp: one edit from the start to the line after the last (no final newline here).
    expect(applyEdits(text, [{ range: { start: at(0, 0), end: at(2, 0) }, newText: renamed }])).toBe(renamed);
    expect(applyEdits(text, [edit(1, 14, 19, 'a'), edit(1, 16, 19, 'b')])).toBeNull();
  });
});

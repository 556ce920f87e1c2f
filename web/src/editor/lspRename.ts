// Rename symbol (F2 in the editor) across the project. The package's own
// renameSymbol edits only files open in an editor and reads only the
// `changes` form of a workspace edit; pylsp answers in `documentChanges`,
// and a symbol used in a file with no open editor must be renamed there
// too, or the rename breaks the program. So: the box gets the project's
// current text first (the server reads closed files from disk, and they
// may have unsaved edits), then open files are edited through their editor
// and closed ones as drafts of the project. pylsp replaces a whole file
// in one edit, so an edit cannot be checked against the old name.

import { LSPPlugin } from '@codemirror/lsp-client';
import { showDialog, type Command, type EditorView } from '@codemirror/view';

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspTextEdit {
  range: { start: LspPosition; end: LspPosition };
  newText: string;
}

/** A workspace edit as servers send it (of its document changes, text edits only). */
export interface LspWorkspaceEdit {
  changes?: Record<string, LspTextEdit[]>;
  documentChanges?: ({ textDocument: { uri: string }; edits: LspTextEdit[] } | { kind: string })[];
}

/** What the rename needs of the IDE. */
export interface RenameHost {
  /** The project path of a URI in the box, or null for one outside it. */
  pathOf(uri: string): string | null;
  /** Sends the project's current text into the box. */
  syncFiles(): void;
  /** A file's current text, or null if the project has no such text file. */
  text(path: string): string | null;
  /** Replaces a file's text as an unsaved edit. */
  edit(path: string, text: string): void;
}

/** The text edits of a workspace edit, by URI; a string says why it cannot be applied. */
export function editsByUri(edit: LspWorkspaceEdit): Map<string, LspTextEdit[]> | string {
  const byUri = new Map<string, LspTextEdit[]>();
  for (const [uri, edits] of Object.entries(edit.changes ?? {})) byUri.set(uri, [...(byUri.get(uri) ?? []), ...edits]);
  for (const change of edit.documentChanges ?? []) {
    if (!('textDocument' in change)) return `the server would ${change.kind} a file, which the IDE does not do in a rename`;
    byUri.set(change.textDocument.uri, [...(byUri.get(change.textDocument.uri) ?? []), ...change.edits]);
  }
  return byUri;
}

/**
 * The offset of an LSP position (UTF-16 code units, as JavaScript strings
 * count) in `text`. As the protocol says, a character past its line's end
 * means the line's end; a line past the last means the text's end (pylsp
 * ends a whole-file edit there).
 */
export function offsetOf(text: string, position: LspPosition): number {
  let offset = 0;
  for (let line = 0; line < position.line; line++) {
    const end = text.indexOf('\n', offset);
    if (end < 0) return text.length;
    offset = end + 1;
  }
  const lineEnd = text.indexOf('\n', offset);
  return Math.min(offset + position.character, lineEnd < 0 ? text.length : lineEnd);
}

/** `text` with `edits` applied, or null when two of them overlap (no server's rename does). */
export function applyEdits(text: string, edits: LspTextEdit[]): string | null {
  const spans: { from: number; to: number; insert: string }[] = [];
  for (const edit of edits) {
    const from = offsetOf(text, edit.range.start);
    const to = offsetOf(text, edit.range.end);
    if (to < from) return null;
    spans.push({ from, to, insert: edit.newText });
  }
  spans.sort((a, b) => b.from - a.from);
  for (let i = 1; i < spans.length; i++) if (spans[i].to > spans[i - 1].from) return null;
  return spans.reduce((out, span) => out.slice(0, span.from) + span.insert + out.slice(span.to), text);
}

/** F2: asks for the new name of the symbol under the cursor, then renames it everywhere. */
export function renameCommand(host: RenameHost): Command {
  return (view) => {
    const word = view.state.wordAt(view.state.selection.main.head);
    const plugin = LSPPlugin.get(view);
    if (!word || !plugin || !plugin.client.serverCapabilities?.renameProvider) return false;
    const oldName = view.state.sliceDoc(word.from, word.to);
    const { close, result } = showDialog(view, {
      label: 'New name',
      input: { name: 'name', value: oldName, 'aria-label': `New name for ${oldName}` },
      focus: true,
      submitLabel: 'Rename',
      class: 'cm-lsp-rename-panel',
    });
    void result.then((form) => {
      view.dispatch({ effects: close });
      const input = form?.elements.namedItem('name');
      const newName = input instanceof HTMLInputElement ? input.value.trim() : '';
      if (newName && newName !== oldName) rename(view, host, word.from, newName);
    });
    return true;
  };
}

function rename(view: EditorView, host: RenameHost, at: number, newName: string) {
  const plugin = LSPPlugin.get(view);
  if (!plugin) return;
  host.syncFiles();
  plugin.client.sync();
  // The open files' text as the server has it: its positions are in these
  // (clamped as in closed files), then mapped over what was typed since.
  const synced = new Map(plugin.client.workspace.files.map((file) => [file.uri, file.doc.toString()]));
  const position = plugin.toPosition(at);
  void plugin.client
    .withMapping((mapping) =>
      plugin.client
        .request<{ newName: string; position: LspPosition; textDocument: { uri: string } }, LspWorkspaceEdit | null>('textDocument/rename', {
          newName,
          position,
          textDocument: { uri: plugin.uri },
        })
        .then((answer) => {
          if (!answer) return;
          const byUri = editsByUri(answer);
          if (typeof byUri === 'string') throw new Error(byUri);
          // Closed files first, all or nothing.
          const closed: { path: string; text: string }[] = [];
          for (const [uri, edits] of byUri) {
            if (plugin.client.workspace.getFile(uri)) continue;
            const path = host.pathOf(uri);
            const text = path === null ? null : host.text(path);
            if (path === null || text === null) {
              throw new Error(`it would change ${path ?? uri}, which is not a text file of this project; nothing was renamed`);
            }
            const renamed = applyEdits(text, edits);
            if (renamed === null) throw new Error(`the server's edits of ${path} overlap; nothing was renamed`);
            closed.push({ path, text: renamed });
          }
          for (const [uri, edits] of byUri) {
            const text = synced.get(uri);
            if (text === undefined || !plugin.client.workspace.getFile(uri) || !edits.length) continue;
            plugin.client.workspace.updateFile(uri, {
              changes: edits.map((edit) => ({
                from: mapping.mapPos(uri, offsetOf(text, edit.range.start)),
                to: mapping.mapPos(uri, offsetOf(text, edit.range.end)),
                insert: edit.newText,
              })),
              userEvent: 'rename',
            });
          }
          for (const { path, text } of closed) host.edit(path, text);
        }),
    )
    .catch((error: unknown) => plugin.reportError('Rename failed', error));
}

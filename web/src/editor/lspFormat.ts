// Format document through the file's language server: Shift+Alt+F, the
// status bar's Format, and before a save when "format on save" is on. The
// package's formatDocument cannot be awaited, and a save must wait for the
// formatted text; so this one returns when the edits are in the editor.

import { getIndentUnit, indentUnit } from '@codemirror/language';
import { LSPPlugin } from '@codemirror/lsp-client';
import type { Command, EditorView } from '@codemirror/view';
import type { LspTextEdit } from './lspRename';

/** Formats `view`'s document; false when its file has no server that formats, or the request failed. */
export async function formatView(view: EditorView): Promise<boolean> {
  const plugin = LSPPlugin.get(view);
  if (!plugin?.client.serverCapabilities?.documentFormattingProvider) return false;
  plugin.client.sync();
  const options = { tabSize: getIndentUnit(view.state), insertSpaces: !view.state.facet(indentUnit).includes('\t') };
  try {
    return await plugin.client.withMapping(async (mapping) => {
      const edits = await plugin.client.request<{ options: typeof options; textDocument: { uri: string } }, LspTextEdit[] | null>(
        'textDocument/formatting',
        { options, textDocument: { uri: plugin.uri } },
      );
      if (!edits?.length) return true;
      // Typed meanwhile: an edit whose text was touched would undo it, so none is applied.
      const typed = mapping.getMapping(plugin.uri);
      const changes = [];
      for (const edit of edits) {
        let from = mapping.mapPosition(plugin.uri, edit.range.start);
        let to = mapping.mapPosition(plugin.uri, edit.range.end);
        if (typed) {
          if (typed.touchesRange(from, to)) return false;
          from = typed.mapPos(from, 1);
          to = typed.mapPos(to, -1);
        }
        changes.push({ from, to, insert: edit.newText });
      }
      view.dispatch({ changes, userEvent: 'format' });
      return true;
    });
  } catch (error) {
    plugin.reportError('Formatting failed', error);
    return false;
  }
}

/** Shift+Alt+F. */
export const formatCommand: Command = (view) => {
  if (!LSPPlugin.get(view)) return false;
  void formatView(view);
  return true;
};

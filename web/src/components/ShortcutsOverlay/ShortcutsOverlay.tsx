// The `?` overlay: every keyboard shortcut (app/useShortcuts.ts binds them).

import { Modal } from '../Dialogs/Dialogs';

export const SHORTCUTS: [string, string][] = [
  ['Ctrl/⌘ + Enter', 'Run (in the console of the last run of the same file)'],
  ['Ctrl/⌘ + Shift + Enter', 'Run in a new console'],
  ['Ctrl/⌘ + .', 'Stop the current console’s run'],
  ['Ctrl/⌘ + S', 'Save the file'],
  ['Alt + ] / Alt + [', 'Next / previous file tab'],
  ['Alt + Shift + ] / [', 'Next / previous console'],
  ['Alt + N', 'New file'],
  ['Alt + 1 / 2 / 3', 'Focus files / editor / console'],
  ['Ctrl/⌘ + F', 'Search and replace (in the editor)'],
  ['Ctrl/⌘ + Shift + F', 'Search and replace in the whole project'],
  ['Ctrl/⌘ + Z / Shift+Z', 'Undo / redo'],
  ['Ctrl + Space', 'Complete (Python, C, C++, JavaScript, TypeScript: as you type too)'],
  ['Ctrl/⌘ + Shift + Space', 'Show the signature of the call at the cursor'],
  ['F12', 'Go to the definition of the name at the cursor'],
  ['Shift + F12', 'Find references of the name at the cursor'],
  ['Shift + Alt + F', 'Format the document (or Format in the status bar; “on save” there formats before each save)'],
  ['F2', 'In the editor: rename the name at the cursor in every file of the project'],
  ['Ctrl + C / Ctrl + D', 'In a console: interrupt / end of input'],
  ['Shift + Enter / Ctrl/⌘ + Enter', 'In a notebook: run the cell and go to the next / run it in place'],
  ['Esc', 'In a console: back to the editor (Ctrl + [ sends Esc to the program)'],
  ['F2 / Delete', 'In the file tree: rename / delete the selected file or folder (after a click too)'],
  ['?', 'This list (outside the editor and consoles); F1 anywhere'],
];

export function ShortcutsOverlay({ onClose }: { onClose: () => void }) {
  return (
    <Modal title="Keyboard shortcuts" onClose={onClose}>
      <table className="shortcuts">
        <tbody>
          {SHORTCUTS.map(([keys, what]) => (
            <tr key={keys}>
              <td>
                <kbd>{keys}</kbd>
              </td>
              <td>{what}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Modal>
  );
}

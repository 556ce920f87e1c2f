// The `?` overlay: every keyboard shortcut (app/useShortcuts.ts binds them).

import { Modal } from '../Dialogs/Dialogs';

export const SHORTCUTS: [string, string][] = [
  ['Ctrl/⌘ + Enter', 'Run'],
  ['Ctrl/⌘ + .', 'Stop the current console’s run'],
  ['Ctrl/⌘ + S', 'Save the file'],
  ['Alt + ] / Alt + [', 'Next / previous file tab'],
  ['Alt + Shift + ] / [', 'Next / previous console'],
  ['Alt + N', 'New file'],
  ['Alt + 1 / 2 / 3', 'Focus files / editor / console'],
  ['Ctrl/⌘ + F', 'Search and replace (in the editor)'],
  ['Ctrl/⌘ + Z / Shift+Z', 'Undo / redo'],
  ['Ctrl + C / Ctrl + D', 'In a console: interrupt / end of input'],
  ['F2 / Delete', 'In the file tree: rename / delete'],
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

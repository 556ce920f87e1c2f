// Whether the open project is saved, in words, and where: a guest's
// projects live only in this browser, and the words say so.

import type { SaveState } from '../../store/workspace';

const SAVE_TEXT: Record<SaveState, string> = {
  saved: 'Saved',
  saving: 'Saving…',
  offline: 'Offline — changes kept',
  conflict: 'Conflict',
  error: 'Not saved',
};

/** A guest's (IndexedDB) project: only `saved`, `saving` and `error` happen. */
const BROWSER_TEXT: Record<SaveState, string> = {
  ...SAVE_TEXT,
  saved: 'Kept in this browser',
  error: 'Not kept',
};

export function SaveStatus({ state, inBrowser }: { state: SaveState; inBrowser: boolean }) {
  return (
    <span
      className="save-state"
      data-testid="save-state"
      data-state={state}
      aria-live="polite"
      title={inBrowser ? 'Only this browser has this project: sign in to keep projects on the server.' : undefined}
    >
      {(inBrowser ? BROWSER_TEXT : SAVE_TEXT)[state]}
    </span>
  );
}

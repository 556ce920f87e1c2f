// Whether the open project is saved, in words.

import type { SaveState } from '../../store/workspace';

const SAVE_TEXT: Record<SaveState, string> = {
  saved: 'Saved',
  saving: 'Saving…',
  offline: 'Offline — changes kept',
  conflict: 'Conflict',
  error: 'Not saved',
};

export function SaveStatus({ state }: { state: SaveState }) {
  return (
    <span className="save-state" data-testid="save-state" data-state={state} aria-live="polite">
      {SAVE_TEXT[state]}
    </span>
  );
}

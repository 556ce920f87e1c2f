// The banners under the toolbar: a lost connection, and an error or notice.

import type { ConsolesStore } from '../../store/consoles';
import { useStoreValue } from '../../hooks';
import type { NoticeAction } from '../../app/useNotice';
import { Icon } from '../Icons/Icon';

export function Banners({
  consoles,
  message,
  action,
  onDismiss,
}: {
  consoles: ConsolesStore;
  message: string | null;
  action?: NoticeAction | null;
  onDismiss: () => void;
}) {
  const connection = useStoreValue(consoles, (s) => s.connection);
  return (
    <>
      {connection === 'reconnecting' && (
        <div className="banner warn" role="alert">
          Lost connection to the server. Reconnecting… running programs keep going and their output will follow.
        </div>
      )}
      {message && (
        // A notice with an action reports something done (Deleted …, Replaced …), not a failure.
        <div className={`banner ${action ? 'info' : 'error'}`} role="alert">
          {message}
          {action && (
            <button
              type="button"
              className="banner-action"
              onClick={() => {
                onDismiss();
                action.run();
              }}
            >
              {action.label}
            </button>
          )}
          <button type="button" className="icon" aria-label="Dismiss" onClick={onDismiss}>
            <Icon name="close" />
          </button>
        </div>
      )}
    </>
  );
}

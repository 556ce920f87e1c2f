// The banners under the toolbar: a lost connection, and an error or notice.

import type { ConsolesStore } from '../../store/consoles';
import { useStoreValue } from '../../hooks';

export function Banners({ consoles, message, onDismiss }: { consoles: ConsolesStore; message: string | null; onDismiss: () => void }) {
  const connection = useStoreValue(consoles, (s) => s.connection);
  return (
    <>
      {connection === 'reconnecting' && (
        <div className="banner warn" role="alert">
          Lost connection to the server. Reconnecting… running programs keep going and their output will follow.
        </div>
      )}
      {message && (
        <div className="banner error" role="alert">
          {message}
          <button type="button" className="icon" aria-label="Dismiss" onClick={onDismiss}>
            ✕
          </button>
        </div>
      )}
    </>
  );
}

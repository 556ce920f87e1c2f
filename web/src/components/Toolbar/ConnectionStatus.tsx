// The connection dot, with its state in words (for screen readers, and as
// a tooltip when the words are hidden on a phone).

import type { ConsolesStore } from '../../store/consoles';
import { useStoreValue } from '../../hooks';

export function ConnectionStatus({ consoles }: { consoles: ConsolesStore }) {
  const connection = useStoreValue(consoles, (s) => s.connection);
  const text =
    connection === 'open' ? 'Connected' : connection === 'closed' ? 'Offline' : connection === 'connecting' ? 'Connecting…' : 'Reconnecting…';
  return (
    <span className={`connection ${connection}`} role="status" aria-live="polite" data-testid="connection" title={text}>
      <span className="dot" aria-hidden="true" />
      <span className="connection-text">{text}</span>
    </span>
  );
}

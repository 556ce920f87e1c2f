// Terminals: a tab per shell in the session's box, each with its own
// xterm.js terminal fitted to the panel. Every key goes to the shell
// (Escape and Tab included: vim and completion need them); copy and paste
// are Ctrl+Shift+C / Ctrl+Shift+V (or Ctrl+C with a selection, and the
// browser's own paste).

import { useRef } from 'react';
import type { TerminalsStore } from '../../store/terminals';
import { useStore } from '../../hooks';
import { lastSize } from '../Consoles/Consoles';
import { Icon } from '../Icons/Icon';
import { useTerminalViews } from './useTerminalViews';

export function Terminals({ store, theme }: { store: TerminalsStore; theme: 'light' | 'dark' }) {
  const { terminals, activeId } = useStore(store);
  const host = useRef<HTMLDivElement>(null);
  useTerminalViews(store, host, terminals, activeId, theme);

  const openTerminal = () => store.open(lastSize.rows, lastSize.cols);

  return (
    <section className="consoles terminals-panel" aria-label="Terminals">
      <div className="console-tabs">
        <div className="console-tab-strip" role="tablist" aria-label="Terminal tabs">
          {terminals.map((t) => (
            <div key={t.id} className={`console-tab ${t.id === activeId ? 'active' : ''}`} data-phase={t.phase}>
              <button
                type="button"
                role="tab"
                aria-selected={t.id === activeId}
                aria-label={`${t.title}${t.ending ? `, ${t.ending}` : ''}`}
                onClick={() => store.activate(t.id)}
              >
                <span className={`phase-dot ${t.phase === 'ended' ? 'finished' : 'running'}`} aria-hidden="true" />
                {t.title}
                {t.ending && <span className="phase">{t.ending}</span>}
              </button>
              <button type="button" className="icon" aria-label={`Close ${t.title}`} onClick={() => store.close(t.id)}>
                <Icon name="close" />
              </button>
            </div>
          ))}
          {terminals.length === 0 && (
            <span className="muted console-hint">A shell in your box: git, pip, vim, top… Open one with “+ Terminal”.</span>
          )}
        </div>
        <span className="console-actions">
          <button type="button" onClick={openTerminal} aria-label="New terminal" title="Open another terminal">
            + Terminal
          </button>
        </span>
      </div>
      <div className="terminals" ref={host} />
    </section>
  );
}

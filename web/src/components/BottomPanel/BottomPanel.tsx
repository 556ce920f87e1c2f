// The panel under the editor: the run consoles, or the terminals. Both
// stay mounted (a terminal keeps its screen while the consoles are shown);
// a new run brings the consoles forward.

import { useEffect, useState, type ReactNode } from 'react';
import type { ConsolesStore } from '../../store/consoles';
import type { TerminalsStore } from '../../store/terminals';
import { useStoreValue } from '../../hooks';
import { lastSize } from '../Consoles/Consoles';

export type PanelTab = 'console' | 'terminal';

export function BottomPanel({
  consoles,
  terminals,
  consolePane,
  terminalPane,
}: {
  consoles: ConsolesStore;
  terminals: TerminalsStore;
  consolePane: ReactNode;
  terminalPane: ReactNode;
}) {
  const [tab, setTab] = useState<PanelTab>('console');
  const activeRun = useStoreValue(consoles, (s) => s.activeId);
  const terminalCount = useStoreValue(terminals, (s) => s.terminals.length);
  useEffect(() => {
    if (activeRun) setTab('console');
  }, [activeRun]);
  const openTerminals = () => {
    setTab('terminal');
    // The first visit opens one: that is what the tab is for.
    if (terminals.get().terminals.length === 0) requestAnimationFrame(() => terminals.open(lastSize.rows, lastSize.cols));
  };
  return (
    <div className="bottom-panel">
      <div className="panel-switch" role="tablist" aria-label="Panel">
        <button type="button" role="tab" aria-selected={tab === 'console'} onClick={() => setTab('console')}>
          Console
        </button>
        <button type="button" role="tab" aria-selected={tab === 'terminal'} onClick={openTerminals}>
          Terminal{terminalCount ? ` (${terminalCount})` : ''}
        </button>
      </div>
      <div className="panel-body" hidden={tab !== 'console'}>
        {consolePane}
      </div>
      <div className="panel-body" hidden={tab !== 'terminal'}>
        {terminalPane}
      </div>
    </div>
  );
}

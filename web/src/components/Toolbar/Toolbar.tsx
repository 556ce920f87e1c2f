// The toolbar: projects, Run and Stop, what runs and how, the connection,
// the save state, view settings, who is signed in and the shortcuts. On a
// phone it is one row, the rest in the ⋯ panel.

import { useEffect, useRef, useState } from 'react';
import { isActive, type ConsolesStore } from '../../store/consoles';
import type { AccountState } from '../../store/account';
import type { SettingsStore } from '../../store/settings';
import type { SaveState } from '../../store/workspace';
import { entryFile, type Project } from '../../store/project';
import type { Runtime } from '../../api/client';
import type { ChangeProject } from '../../app/useProjectChange';
import type { RunActions } from '../../app/useRunActions';
import { useStoreValue } from '../../hooks';
import type { AccountPage } from '../AccountPages/AccountPages';
import { AccountControl } from './AccountControl';
import { ConnectionStatus } from './ConnectionStatus';
import { RunOptions } from './RunOptions';
import { SaveStatus } from './SaveStatus';
import { ViewOptions } from './ViewOptions';

export function Toolbar({
  project,
  saveState,
  change,
  actions,
  consoles,
  settings,
  languages,
  account,
  narrow,
  onProjects,
  onShortcuts,
  onPage,
  onSignOut,
}: {
  project: Project;
  saveState: SaveState;
  change: ChangeProject;
  actions: RunActions;
  consoles: ConsolesStore;
  settings: SettingsStore;
  /** The server's languages. */
  languages: Runtime[];
  account: AccountState;
  narrow: boolean;
  onProjects: () => void;
  onShortcuts: () => void;
  onPage: (page: AccountPage) => void;
  onSignOut: () => void;
}) {
  // Only what the toolbar shows: it does not re-render for every frame of a run.
  const running = useStoreValue(consoles, (s) => {
    const active = s.consoles.find((c) => c.id === s.activeId);
    return active ? isActive(active) : false;
  });
  const [showMore, setShowMore] = useState(false);
  const morePanel = useRef<HTMLDivElement>(null);

  // The phone's ⋯ panel closes on a tap anywhere else.
  useEffect(() => {
    if (!showMore) return;
    const onDown = (e: PointerEvent) => {
      const target = e.target as Node;
      if (morePanel.current?.contains(target) || (target as HTMLElement).closest?.('.more-button')) return;
      setShowMore(false);
    };
    document.addEventListener('pointerdown', onDown, true);
    return () => document.removeEventListener('pointerdown', onDown, true);
  }, [showMore]);

  const runOptions = <RunOptions project={project} change={change} languages={languages} />;
  const viewOptions = <ViewOptions settings={settings} />;
  const saveStatus = <SaveStatus state={saveState} />;
  const accountControl = <AccountControl account={account} onPage={onPage} onSignOut={onSignOut} />;
  const shortcutsButton = (
    <button
      type="button"
      className="icon"
      aria-label="Keyboard shortcuts"
      title="Keyboard shortcuts (?)"
      onClick={() => {
        setShowMore(false);
        onShortcuts();
      }}
    >
      {narrow ? '? Shortcuts' : '?'}
    </button>
  );

  return (
    <header className={`toolbar ${narrow ? 'one-row' : ''}`} role="banner">
      <button type="button" className="project-button" onClick={onProjects} aria-label={`Projects (current: ${project.name})`}>
        <span className="logo" aria-hidden="true">▣</span>
        <span className="project-name">{project.name}</span>
        <span aria-hidden="true">▾</span>
      </button>
      <div className="run-group">
        <button
          type="button"
          className="primary run"
          onClick={() => void actions.run()}
          aria-label="Run (Ctrl+Enter)"
          title="Run (Ctrl/⌘+Enter)"
          disabled={!entryFile(project)}
        >
          ▶ Run
        </button>
        <button type="button" className="stop" onClick={actions.stop} disabled={!running} aria-label="Stop (Ctrl+.)" title="Stop (Ctrl/⌘+.)">
          ■<span className="stop-text"> Stop</span>
        </button>
      </div>
      {!narrow && runOptions}
      <span className="spacer" />
      <ConnectionStatus consoles={consoles} />
      {!narrow && saveStatus}
      {!narrow && viewOptions}
      {!narrow && accountControl}
      {narrow ? (
        <button
          type="button"
          className="icon more-button"
          aria-label="More options"
          aria-haspopup="true"
          aria-expanded={showMore}
          aria-controls="more-options"
          onClick={() => setShowMore((v) => !v)}
        >
          ⋯
        </button>
      ) : (
        shortcutsButton
      )}
      {narrow && showMore && (
        <div
          id="more-options"
          className="more-panel"
          role="group"
          aria-label="More options"
          ref={morePanel}
          onKeyDown={(e) => {
            if (e.key === 'Escape') {
              setShowMore(false);
              document.querySelector<HTMLElement>('.more-button')?.focus();
            }
          }}
        >
          {runOptions}
          {viewOptions}
          <div className="more-footer">
            {accountControl}
            {saveStatus}
            {shortcutsButton}
          </div>
        </div>
      )}
    </header>
  );
}

// The toolbar: projects, Run and Stop, what runs and how, the connection,
// the save state, who is signed in, and the ⋯ panel for the rest (view
// settings and the shortcuts). It is always one row: on a phone only
// project, Run, Stop and the connection stay in it, the rest moves to ⋯.

import { useEffect, useRef, useState } from 'react';
import { isActive, type ConsolesStore } from '../../store/consoles';
import type { AccountState } from '../../store/account';
import type { SettingsStore } from '../../store/settings';
import type { SaveState } from '../../store/workspace';
import type { Project } from '../../store/project';
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
import { Icon } from '../Icons/Icon';

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

  // The ⋯ panel closes on a tap or click anywhere else, and on Escape
  // wherever the keyboard is (on a desktop it stays on the ⋯ button).
  useEffect(() => {
    if (!showMore) return;
    const onDown = (e: PointerEvent) => {
      const target = e.target as Node;
      if (morePanel.current?.contains(target) || (target as HTMLElement).closest?.('.more-button')) return;
      setShowMore(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape') return;
      setShowMore(false);
      document.querySelector<HTMLElement>('.more-button')?.focus();
    };
    document.addEventListener('pointerdown', onDown, true);
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('pointerdown', onDown, true);
      document.removeEventListener('keydown', onKey);
    };
  }, [showMore]);

  const runOptions = <RunOptions project={project} change={change} languages={languages} />;
  const viewOptions = <ViewOptions settings={settings} />;
  const saveStatus = <SaveStatus state={saveState} inBrowser={account.status !== 'user'} />;
  const accountControl = <AccountControl account={account} onPage={onPage} onSignOut={onSignOut} />;
  const shortcutsButton = (
    <button
      type="button"
      aria-label="Keyboard shortcuts"
      title="Keyboard shortcuts (?)"
      onClick={() => {
        setShowMore(false);
        onShortcuts();
      }}
    >
      ? Shortcuts
    </button>
  );

  return (
    <header className={`toolbar ${narrow ? 'one-row' : ''}`} role="banner">
      <button type="button" className="project-button" onClick={onProjects} aria-label={`Projects (current: ${project.name})`}>
        <Icon name="logo" className="logo" />
        <span className="project-name">{project.name}</span>
        <Icon name="chevronDown" />
      </button>
      <div className="run-group">
        <button
          type="button"
          className="primary run"
          onClick={() => void actions.run()}
          aria-label="Run (Ctrl+Enter)"
          title="Run (Ctrl/⌘+Enter)"
          disabled={!Object.keys(project.files).length}
        >
          <Icon name="play" /> Run
        </button>
        <button
          type="button"
          className="run-another"
          onClick={() => void actions.run({ newConsole: true })}
          disabled={!Object.keys(project.files).length}
          aria-label="Open another console and run (Ctrl+Shift+Enter)"
          title="Run in a new console, keeping the current one (Ctrl/⌘+Shift+Enter)"
        >
          <Icon name="plus" />
        </button>
        <button type="button" className="stop" onClick={actions.stop} disabled={!running} aria-label="Stop (Ctrl+.)" title="Stop (Ctrl/⌘+.)">
          <Icon name="stop" />
          <span className="stop-text"> Stop</span>
        </button>
      </div>
      {!narrow && runOptions}
      <span className="spacer" />
      <ConnectionStatus consoles={consoles} />
      {!narrow && saveStatus}
      {!narrow && accountControl}
      <button
        type="button"
        className="icon more-button"
        aria-label="More options"
        title="More options: theme, tab width, shortcuts"
        aria-haspopup="true"
        aria-expanded={showMore}
        aria-controls="more-options"
        onClick={() => setShowMore((v) => !v)}
      >
        <Icon name="more" />
      </button>
      {showMore && (
        <div
          id="more-options"
          className="more-panel"
          role="group"
          aria-label="More options"
          ref={morePanel}
        >
          {narrow && runOptions}
          {viewOptions}
          <div className="more-footer">
            {narrow && accountControl}
            {narrow && saveStatus}
            {shortcutsButton}
          </div>
        </div>
      )}
    </header>
  );
}

// The IDE's areas: file tree | editor over consoles on a desktop, with
// dividers; one column with Files / Code / Console switches on a phone.

import { useState, type ReactNode } from 'react';
import type { ConsolesStore } from '../../store/consoles';
import type { View } from '../../app/focus';
import { useStoreValue } from '../../hooks';
import { Splitter } from '../Splitter/Splitter';

export function Workbench({
  narrow,
  view,
  onView,
  consoles,
  files,
  editor,
  consolePane,
}: {
  narrow: boolean;
  /** The phone's view. */
  view: View;
  onView: (view: View) => void;
  consoles: ConsolesStore;
  files: ReactNode;
  editor: ReactNode;
  consolePane: ReactNode;
}) {
  const [sideWidth, setSideWidth] = useState(240);
  // The console as tall as before the Console | Terminal switch took a row over it.
  const [consoleHeight, setConsoleHeight] = useState(310);
  const consoleCount = useStoreValue(consoles, (s) => s.consoles.length);

  if (narrow) {
    return (
      <>
        <nav className="view-switch" aria-label="Views">
          {(['files', 'code', 'console'] as View[]).map((v) => (
            <button key={v} type="button" aria-pressed={view === v} onClick={() => onView(v)}>
              {v === 'files' ? 'Files' : v === 'code' ? 'Code' : `Console${consoleCount ? ` (${consoleCount})` : ''}`}
            </button>
          ))}
        </nav>
        <main className="narrow-main">
          <div className="view" hidden={view !== 'files'}>
            {files}
          </div>
          <div className="view" hidden={view !== 'code'}>
            {editor}
          </div>
          <div className="view" hidden={view !== 'console'}>
            {consolePane}
          </div>
        </main>
      </>
    );
  }
  return (
    <main className="wide-main" style={{ gridTemplateColumns: `${sideWidth}px 6px minmax(0, 1fr)` }}>
      {files}
      <Splitter orientation="vertical" label="Resize the file tree" value={sideWidth} min={140} max={600} onChange={setSideWidth} />
      <div className="work" style={{ gridTemplateRows: `minmax(0, 1fr) 6px ${consoleHeight}px` }}>
        {editor}
        <Splitter
          orientation="horizontal"
          label="Resize the console"
          value={consoleHeight}
          min={80}
          max={window.innerHeight - 160}
          invert
          onChange={setConsoleHeight}
        />
        {consolePane}
      </div>
    </main>
  );
}

// Consoles: a tab per run, each with its own xterm.js terminal. Keys typed
// into a terminal go to the run's PTY, which echoes and edits the line.
// Locations of project files in the output are links to the line.

import { useEffect, useMemo, useRef } from 'react';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import type { ConsoleState, ConsolesStore } from '../../store/consoles';
import { CONSOLE_SYMBOLS, isActive, statusLabel } from '../../store/consoles';
import { useStore } from '../../hooks';
import { findLocations } from '../../problems/parse';
import { focusView } from '../../app/focus';
import { Problems, type SourceLocation } from '../Problems/Problems';
import { DARK, LIGHT } from './themes';
import { Icon } from '../Icons/Icon';
import { SqlResults, type SqlSession } from '../SqlResults/SqlResults';

interface Entry {
  term: Terminal;
  fit: FitAddon;
  el: HTMLDivElement;
  /** The console it shows; null while it is the spare. */
  owner: string | null;
  /** The warm-up text is still in it. */
  warming: boolean;
}

/** The size a new run's terminal starts with (the last one fitted). */
export const lastSize = { rows: 24, cols: 80 };

function phaseLabel(c: ConsoleState): string {
  switch (c.phase) {
    case 'starting':
      return 'starting';
    case 'queued':
      return `queued #${c.queuePosition}`;
    case 'compiling':
      return 'compiling';
    case 'running':
      return 'running';
    case 'finished':
      return c.exit ? statusLabel(c.exit) : 'done';
    case 'failed':
      return 'error';
    case 'lost':
      return 'lost';
  }
}

export function Consoles({
  store,
  theme,
  files,
  onJump,
  sql,
}: {
  store: ConsolesStore;
  /** The session's databases, for a SQL run's results (components/SqlResults). */
  sql?: SqlSession;
  theme: 'light' | 'dark';
  /** The project's paths: only locations of these are links. */
  files: string[];
  onJump: (at: SourceLocation) => void;
}) {
  const { consoles, activeId } = useStore(store);
  const host = useRef<HTMLDivElement>(null);
  const terms = useRef(new Map<string, Entry>());
  // Read by the terminals' link providers when a line is hovered.
  const links = useRef({ files: new Set<string>(), onJump });
  const fileSet = useMemo(() => new Set(files), [files]);
  links.current = { files: fileSet, onJump };

  // Terminal writes, from the store.
  useEffect(
    () =>
      store.attach((id, data) => {
        const entry = terms.current.get(id);
        if (entry) {
          // Only the latency benchmark's build marks when output is painted.
          if (import.meta.env.MODE === 'production') entry.term.write(data);
          else entry.term.write(data, () => markPainted(id, data));
        }
      }),
    [store],
  );

  // One terminal per console, disposed on close. A spare terminal is made
  // ahead of time (like the server's spare boxes), so pressing Run does not
  // spend the time the program runs in building a terminal, which would
  // delay the first output. The spare sits invisible over the console area,
  // fitted, so its size is the size the next run asks for: no resize
  // follows a run's start.
  const spare = useRef<Entry | null>(null);
  const makeEntry = (): Entry => {
    const el = document.createElement('div');
    el.className = 'term-host spare';
    host.current!.appendChild(el);
    const term = new Terminal({
      rows: lastSize.rows,
      cols: lastSize.cols,
      convertEol: true,
      cursorBlink: true,
      fontSize: 13,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
      scrollback: 5000,
      theme: themeRef.current === 'dark' ? DARK : LIGHT,
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(el);
    term.registerLinkProvider({
      provideLinks(y, callback) {
        const line = term.buffer.active.getLine(y - 1)?.translateToString(true) ?? '';
        const found = findLocations(line, links.current.files).map((at) => ({
          range: { start: { x: at.start + 1, y }, end: { x: at.end, y } },
          text: line.slice(at.start, at.end),
          decorations: { underline: true, pointerCursor: true },
          activate: () => links.current.onJump(at),
        }));
        callback(found.length ? found : undefined);
      },
    });
    // Escape leaves the console for the editor, so the keyboard is never
    // trapped in a terminal (Tab is the program's); Ctrl+[ is the same
    // byte (ESC) for a program that wants one.
    term.attachCustomKeyEventHandler((e) => {
      if (e.key !== 'Escape' || e.ctrlKey || e.altKey || e.metaKey || e.shiftKey) return true;
      if (e.type === 'keydown') {
        term.blur();
        focusView('code');
      }
      return false;
    });
    const entry: Entry = { term, fit, el, owner: null, warming: false };
    term.onData((data) => entry.owner && store.input(entry.owner, data));
    term.onResize(({ rows, cols }) => entry.owner && store.resize(entry.owner, rows, cols));
    fitTerminal(entry);
    warmUp(entry);
    return entry;
  };
  const themeRef = useRef(theme);
  themeRef.current = theme;

  // The spare is built while nothing is waiting for its first output, so
  // building it does not compete with a starting program for the CPU (or
  // after a second at the latest, for a program that prints nothing).
  const awaitingOutput = consoles.some((c) => isActive(c) && c.firstOutputAt === null);
  useEffect(() => {
    if (spare.current) return;
    const make = () => {
      spare.current ??= makeEntry();
    };
    if (awaitingOutput) {
      const timer = setTimeout(make, 1000);
      return () => clearTimeout(timer);
    }
    return whenIdle(make);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [awaitingOutput, consoles.length]);
  useEffect(() => {
    const live = new Set(consoles.map((c) => c.id));
    for (const [id, entry] of terms.current) {
      if (!live.has(id)) {
        entry.term.dispose();
        entry.el.remove();
        terms.current.delete(id);
      }
    }
    for (const c of consoles) {
      if (terms.current.has(c.id)) continue;
      const entry = spare.current ?? makeEntry();
      spare.current = null;
      endWarmUp(entry);
      entry.owner = c.id;
      entry.el.classList.remove('spare');
      entry.el.hidden = c.id !== activeId;
      entry.el.dataset.console = c.id;
      entry.term.textarea?.setAttribute('aria-label', `Console ${c.title}: type input for the program here`);
      for (const chunk of store.history(c.id)) entry.term.write(chunk);
      terms.current.set(c.id, entry);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [consoles, store]);

  // Show the active terminal, fitted and focused.
  useEffect(() => {
    for (const [id, entry] of terms.current) {
      const shown = id === activeId;
      entry.el.hidden = !shown;
      if (shown) {
        requestAnimationFrame(() => {
          fitTerminal(entry);
          entry.term.focus();
        });
      }
    }
  }, [activeId, consoles.length]);

  useEffect(() => {
    for (const entry of [...terms.current.values(), ...(spare.current ? [spare.current] : [])]) {
      entry.term.options.theme = theme === 'dark' ? DARK : LIGHT;
    }
  }, [theme]);

  useEffect(() => {
    const el = host.current!;
    const observer = new ResizeObserver(() => {
      const entry = activeId ? terms.current.get(activeId) : undefined;
      if (entry) fitTerminal(entry);
      if (spare.current) fitTerminal(spare.current);
    });
    observer.observe(el);
    const focus = () => (activeId ? terms.current.get(activeId)?.term.focus() : undefined);
    window.addEventListener('bytesbox:focus-console', focus);
    return () => {
      observer.disconnect();
      window.removeEventListener('bytesbox:focus-console', focus);
    };
  }, [activeId]);

  const active = consoles.find((c) => c.id === activeId) ?? null;

  // The active tab is scrolled into view (a new run's tab is the last one).
  const strip = useRef<HTMLDivElement>(null);
  useEffect(() => {
    strip.current?.querySelector('.console-tab.active')?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  }, [activeId, consoles.length]);

  return (
    <section className={`consoles${active?.sqlResults ? ' with-sql-results' : ''}`} aria-label="Consoles">
      <div className="console-tabs">
        {/* Only the tabs scroll; the actions stay in view however many there are. */}
        <div className="console-tab-strip" role="tablist" aria-label="Console tabs" ref={strip}>
        {consoles.map((c, i) => (
          <div key={c.id} className={`console-tab ${c.id === activeId ? 'active' : ''}`} data-phase={c.phase}>
            <button
              type="button"
              role="tab"
              aria-selected={c.id === activeId}
              aria-label={`Console ${i + 1}: ${c.title}, ${phaseLabel(c)}`}
              onClick={() => store.activate(c.id)}
            >
              <span className={`phase-dot ${c.phase}`} aria-hidden="true" />
              {c.title}
              <span className="phase">{phaseLabel(c)}</span>
            </button>
            <button type="button" className="icon" aria-label={`Close console ${c.title}`} onClick={() => store.close(c.id)}>
              <Icon name="close" />
            </button>
          </div>
        ))}
        {consoles.length === 0 && <span className="muted console-hint">Run a program to open a console (Ctrl+Enter).</span>}
        </div>
        {active && (
          <span className="console-actions">
            {isActive(active) && (
              <>
                <button type="button" onClick={() => store.input(active.id, '\x03')} aria-label="Interrupt (Ctrl+C)" title="Interrupt (Ctrl+C)">
                  ^C
                </button>
                <button type="button" onClick={() => store.input(active.id, '\x04')} aria-label="End of input (Ctrl+D)" title="End of input (Ctrl+D)">
                  ^D
                </button>
              </>
            )}
            <button
              type="button"
              aria-label="Clear console"
              onClick={() => {
                store.clear(active.id);
                terms.current.get(active.id)?.term.clear();
              }}
            >
              Clear
            </button>
          </span>
        )}
      </div>
      {/* Always there (empty while running), so the terminal keeps its size when a run ends. */}
      <div
        className={`console-status ${active?.phase ?? ''}`}
        role="status"
        data-testid="console-outcome"
        title={active?.outcome ?? undefined}
      >
        {active?.outcome ?? (active ? phaseLabel(active) : '')}
      </div>
      {active && <Problems key={active.id} problems={active.problems} onJump={onJump} />}
      {active?.sqlResults && sql && <SqlResults key={active.id} console={active} session={sql} onJump={onJump} />}
      <div className="terminals" ref={host} />
    </section>
  );
}

function fitTerminal(entry: Entry) {
  try {
    entry.fit.fit();
    lastSize.rows = entry.term.rows;
    lastSize.cols = entry.term.cols;
  } catch {
    /* hidden */
  }
}

/**
 * xterm's DOM renderer measures each character's width the first time it
 * draws it, forcing a layout per character; in a fresh terminal that is most
 * of the cost of showing a run's first line. The spare draws the characters
 * runs usually print (plain and bold, and the console's own symbols) while
 * the browser is idle, then resets: the measurements stay cached.
 */
const WARM_UP_TEXT = (() => {
  let ascii = '';
  for (let c = 0x20; c < 0x7f; c++) ascii += String.fromCharCode(c);
  return `${ascii}${CONSOLE_SYMBOLS}\r\n\x1b[1m${ascii}${CONSOLE_SYMBOLS}\x1b[0m`;
})();

function warmUp(entry: Entry) {
  entry.warming = true;
  // Parsed, then drawn in the next frame (xterm's own frame callback was
  // queued while parsing, so it runs first), then wiped.
  entry.term.write(WARM_UP_TEXT, () => requestAnimationFrame(() => endWarmUp(entry)));
}

/** Wipes the warm-up text (now, if a run needs the terminal first). */
function endWarmUp(entry: Entry) {
  if (!entry.warming) return;
  entry.warming = false;
  // A full reset (RIS) written into the stream, so it lands after the
  // warm-up text however far xterm got with parsing it, and before the
  // console's own text.
  entry.term.write('\x1bc');
}

/** Calls `fn` when the browser is idle; returns a cancel function. */
function whenIdle(fn: () => void): () => void {
  if (typeof requestIdleCallback === 'function') {
    const handle = requestIdleCallback(fn, { timeout: 2000 });
    return () => cancelIdleCallback(handle);
  }
  const timer = setTimeout(fn, 200);
  return () => clearTimeout(timer);
}

/**
 * Run→first-output latency, read by the latency benchmark (not in the
 * production bundle): the animation frame
 * after xterm parsed the run's first output, i.e. the frame that shows it.
 */
function markPainted(id: string, data: string | Uint8Array) {
  const w = window as unknown as { __bytesbox?: { painted: Record<string, number>; pending: Set<string> } };
  w.__bytesbox ??= { painted: {}, pending: new Set() };
  const marks = w.__bytesbox;
  if (typeof data === 'string' || id in marks.painted || marks.pending.has(id)) return;
  marks.pending.add(id);
  requestAnimationFrame(() => {
    marks.painted[id] = performance.now();
    marks.pending.delete(id);
  });
}

// A `.ipynb` file as a notebook (docs/web.md, "Notebooks"): a toolbar
// (run, run all, run above, interrupt, restart, clear, add, move, delete,
// the cell's type) with the kernel's state, then the cells: code cells in
// CodeMirror with their execution count and outputs, Markdown cells
// rendered until edited. Loaded on first use (its own chunk: Markdown,
// DOMPurify and the Python mode are not in the initial bundle). Everything
// it does goes through the notebook's session (store/kernels.ts).

import { memo, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { EditorView } from '@codemirror/view';
import { useStore } from '../../hooks';
import type { Cell, CellType } from '../../notebook/model';
import { markdownHtml } from '../../notebook/render';
import { languageOf, type KernelState, type NotebookSession } from '../../store/kernels';
import { Icon } from '../Icons/Icon';
import { CellEditor } from './CellEditor';
import { Outputs } from './Outputs';

interface Props {
  session: NotebookSession;
  theme: 'light' | 'dark';
  tabWidth: number;
}

export default function NotebookView({ session, theme, tabWidth }: Props) {
  const { notebook, parseError, kernel, runs, prompts } = useStore(session);
  const [activeKey, setActiveKey] = useState<string | null>(null);
  /** Markdown cells shown as their source. */
  const [editing, setEditing] = useState<Set<string>>(() => new Set());
  /** A cell whose editor should take focus when it appears. */
  const [focusKey, setFocusKey] = useState<string | null>(null);
  const views = useRef(new Map<string, EditorView>());
  const cellElements = useRef(new Map<string, HTMLDivElement>());
  const cells = notebook?.cells ?? [];
  const active = cells.find((c) => c.key === activeKey) ?? cells[0] ?? null;

  const setEdit = useCallback((key: string, on: boolean) => {
    setEditing((old) => {
      if (old.has(key) === on) return old;
      const next = new Set(old);
      if (on) next.add(key);
      else next.delete(key);
      return next;
    });
  }, []);

  /** Focuses a cell: its editor when it shows one, else the cell itself. */
  const focusCell = useCallback((key: string) => {
    setActiveKey(key);
    const view = views.current.get(key);
    if (view) view.focus();
    else if (!cellElements.current.get(key)) setFocusKey(key);
    else cellElements.current.get(key)!.focus();
  }, []);

  // The kernel starts when the notebook is first shown (ready by the first run).
  const loaded = notebook !== null;
  useEffect(() => {
    if (loaded) session.startIfOff();
  }, [session, loaded]);

  useEffect(() => {
    if (!focusKey) return;
    const view = views.current.get(focusKey);
    const element = cellElements.current.get(focusKey);
    if (view || element) {
      (view ?? element)!.focus();
      setFocusKey(null);
    }
  });

  const runCell = useCallback(
    (cell: Cell, advance: boolean) => {
      if (cell.type === 'markdown') setEdit(cell.key, false);
      else session.run([cell.key]);
      if (!advance) return;
      const all = session.get().notebook?.cells ?? [];
      const at = all.findIndex((c) => c.key === cell.key);
      const next = all[at + 1];
      // As Jupyter does: past the last cell, a new code cell.
      const key = next ? next.key : session.addCell('code', cell.key);
      if (key) focusCell(key);
    },
    [session, setEdit, focusCell],
  );

  // Stable callbacks by cell key, so a cell re-renders only when its own props change (typing in one cell re-renders that one).
  const runKey = useCallback(
    (key: string, advance: boolean) => {
      const cell = session.get().notebook?.cells.find((c) => c.key === key);
      if (cell) runCell(cell, advance);
    },
    [session, runCell],
  );
  const registerView = useCallback((key: string, view: EditorView | null) => {
    if (view) views.current.set(key, view);
    else views.current.delete(key);
  }, []);
  const registerElement = useCallback((key: string, el: HTMLDivElement | null) => {
    if (el) cellElements.current.set(key, el);
    else cellElements.current.delete(key);
  }, []);

  const add = (type: CellType) => {
    const key = session.addCell(type, active?.key ?? null);
    if (!key) return;
    if (type === 'markdown') setEdit(key, true);
    setActiveKey(key);
    setFocusKey(key);
  };

  if (parseError) {
    return (
      <div className="notebook">
        <p className="placeholder" role="alert">
          {parseError}
        </p>
      </div>
    );
  }
  if (!notebook) return <div className="notebook" />;

  const anyRunning = Object.keys(runs).length > 0;
  const index = active ? cells.indexOf(active) : -1;
  return (
    <div className="notebook" data-kernel={kernel.phase}>
      <div className="nb-toolbar" role="toolbar" aria-label="Notebook">
        <button
          type="button"
          title="Run the cell and go to the next (Shift+Enter)"
          aria-label="Run"
          disabled={!active}
          onClick={() => active && runCell(active, true)}
        >
          <Icon name="play" /> <span className="nb-label">Run</span>
        </button>
        <button type="button" title="Run every cell" onClick={() => session.runAll()}>
          Run all
        </button>
        <button type="button" title="Run the cells above this one" disabled={index <= 0} onClick={() => active && session.runAbove(active.key)}>
          Run above
        </button>
        <button
          type="button"
          title="Interrupt the kernel"
          aria-label="Interrupt"
          disabled={kernel.phase !== 'busy' && !anyRunning}
          onClick={() => session.interrupt()}
        >
          <Icon name="stop" /> <span className="nb-label">Interrupt</span>
        </button>
        <button type="button" title="Restart the kernel (its variables are lost)" aria-label="Restart" onClick={() => session.restart()}>
          <Icon name="refresh" /> <span className="nb-label">Restart</span>
        </button>
        <button type="button" title="Clear every cell's outputs" onClick={() => session.clearOutputs()}>
          Clear outputs
        </button>
        <span className="nb-toolbar-group">
          <button type="button" title="Add a code cell below" onClick={() => add('code')}>
            <Icon name="plus" /> Code
          </button>
          <button type="button" title="Add a Markdown cell below" onClick={() => add('markdown')}>
            <Icon name="plus" /> Markdown
          </button>
        </span>
        <span className="nb-toolbar-group">
          <button type="button" title="Move the cell up" aria-label="Move cell up" disabled={index <= 0} onClick={() => active && session.moveCell(active.key, -1)}>
            <Icon name="chevronUp" />
          </button>
          <button
            type="button"
            title="Move the cell down"
            aria-label="Move cell down"
            disabled={index < 0 || index >= cells.length - 1}
            onClick={() => active && session.moveCell(active.key, 1)}
          >
            <Icon name="chevronDown" />
          </button>
          <button type="button" title="Delete the cell" aria-label="Delete cell" disabled={!active} onClick={() => active && session.deleteCell(active.key)}>
            <Icon name="trash" />
          </button>
          <select
            aria-label="Cell type"
            value={active?.type ?? 'code'}
            disabled={!active}
            onChange={(e) => active && session.setType(active.key, e.target.value as CellType)}
          >
            <option value="code">Code</option>
            <option value="markdown">Markdown</option>
            <option value="raw">Raw</option>
          </select>
        </span>
        <KernelStatus kernel={kernel} language={languageOf(notebook)} />
      </div>
      {kernel.message && (
        <p className={`nb-kernel-message${kernel.phase === 'exited' ? ' error' : ''}`} role="alert">
          {kernel.message}
        </p>
      )}
      <div className="nb-cells">
        {cells.map((cell) => (
          <CellView
            key={cell.key}
            cell={cell}
            active={cell === active}
            editing={editing.has(cell.key)}
            run={runs[cell.key] ?? null}
            prompt={prompts[cell.key] ?? null}
            theme={theme}
            tabWidth={tabWidth}
            session={session}
            onActivate={setActiveKey}
            onEdit={setEdit}
            onRun={runKey}
            onView={registerView}
            onElement={registerElement}
          />
        ))}
        {!cells.length && <p className="placeholder">This notebook has no cells: add one with + Code or + Markdown.</p>}
      </div>
    </div>
  );
}

function KernelStatus({ kernel, language }: { kernel: KernelState; language: string }) {
  const words: Record<KernelState['phase'], string> = {
    off: 'no kernel',
    starting: 'starting…',
    idle: 'idle',
    busy: 'busy',
    restarting: 'restarting…',
    exited: 'stopped',
  };
  return (
    <span className="nb-kernel" role="status" data-phase={kernel.phase} title="The notebook's kernel">
      <Icon name="dot" /> {language[0].toUpperCase() + language.slice(1)}
      {kernel.version ? ` ${kernel.version}` : ''}: {words[kernel.phase]}
    </span>
  );
}

interface CellProps {
  cell: Cell;
  active: boolean;
  editing: boolean;
  run: 'queued' | 'running' | null;
  prompt: { prompt: string; password: boolean } | null;
  theme: 'light' | 'dark';
  tabWidth: number;
  session: NotebookSession;
  onActivate: (key: string) => void;
  onEdit: (key: string, on: boolean) => void;
  onRun: (key: string, advance: boolean) => void;
  onView: (key: string, view: EditorView | null) => void;
  onElement: (key: string, el: HTMLDivElement | null) => void;
}

const CellView = memo(function CellView(props: CellProps) {
  const { cell, active, editing, run, prompt, theme, tabWidth, session } = props;
  const key = cell.key;
  const onActivate = () => props.onActivate(key);
  const onEdit = (on: boolean) => props.onEdit(key, on);
  const onRun = (advance: boolean) => props.onRun(key, advance);
  const onElement = useCallback((el: HTMLDivElement | null) => props.onElement(key, el), [props, key]);
  const onView = (view: EditorView | null) => props.onView(key, view);
  const count = run ? '*' : cell.executionCount ?? ' ';
  const rendered = cell.type === 'markdown' && !editing;
  const html = useMemo(() => (rendered ? markdownHtml(cell.source, cell.rest.attachments) : ''), [rendered, cell.source, cell.rest.attachments]);
  return (
    <div
      ref={onElement}
      className={`nb-cell nb-${cell.type}${active ? ' active' : ''}`}
      data-cell-type={cell.type}
      data-run={run ?? undefined}
      tabIndex={-1}
      onFocus={onActivate}
      onMouseDown={onActivate}
      onKeyDown={(e) => {
        // On a rendered Markdown cell: Enter edits it, Shift+Enter moves on.
        if (e.target !== e.currentTarget) return;
        if (e.key === 'Enter' && e.shiftKey) {
          e.preventDefault();
          onRun(true);
        } else if (e.key === 'Enter' && rendered) {
          e.preventDefault();
          onEdit(true);
        }
      }}
    >
      <div className="nb-prompt" aria-label={cell.type === 'code' ? `Execution count ${count}` : undefined}>
        {cell.type === 'code' ? `[${count}]` : ''}
      </div>
      <div className="nb-body">
        {rendered ? (
          <div
            className="nb-markdown nb-rendered"
            title="Double-click to edit"
            onDoubleClick={() => onEdit(true)}
            dangerouslySetInnerHTML={{ __html: html || '<p class="nb-empty">Empty Markdown cell: double-click to edit.</p>' }}
          />
        ) : (
          <CellEditor
            source={cell.source}
            mode={cell.type === 'code' ? 'python' : null}
            theme={theme}
            tabWidth={tabWidth}
            label={cell.type === 'code' ? 'Code cell' : cell.type === 'markdown' ? 'Markdown cell' : 'Raw cell'}
            autoFocus={cell.type === 'markdown' && editing}
            onChange={(source) => session.setSource(cell.key, source)}
            onRunAndAdvance={() => onRun(true)}
            onRun={() => onRun(false)}
            onFocus={onActivate}
            onEscape={cell.type === 'markdown' ? () => onEdit(false) : undefined}
            onView={onView}
            complete={cell.type === 'code' ? (code, cursor) => session.complete(code, cursor) : undefined}
            inspect={cell.type === 'code' ? (code, cursor) => session.inspect(code, cursor) : undefined}
          />
        )}
        {cell.type === 'code' && (
          <Outputs outputs={cell.outputs} theme={theme} prompt={prompt} onAnswer={(value) => session.answer(cell.key, value)} />
        )}
      </div>
    </div>
  );
});

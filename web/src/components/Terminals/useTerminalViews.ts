// One xterm per terminal tab: made when a tab appears, disposed when it
// goes, the active one shown, fitted to the panel (its size follows the
// panel through a ResizeObserver) and focused.

import { useEffect, useRef, type RefObject } from 'react';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import type { TerminalTab, TerminalsStore } from '../../store/terminals';
import { DARK, LIGHT } from '../Consoles/themes';
import { lastSize } from '../Consoles/Consoles';

interface View {
  term: Terminal;
  fit: FitAddon;
  el: HTMLDivElement;
}

function fitView(view: View) {
  try {
    view.fit.fit();
    lastSize.rows = view.term.rows;
    lastSize.cols = view.term.cols;
  } catch {
    /* hidden */
  }
}

export function useTerminalViews(
  store: TerminalsStore,
  host: RefObject<HTMLDivElement | null>,
  terminals: TerminalTab[],
  activeId: string | null,
  theme: 'light' | 'dark',
) {
  const views = useRef(new Map<string, View>());

  useEffect(
    () =>
      store.attach((id, data) => {
        const view = views.current.get(id);
        if (view) view.term.write(data);
      }),
    [store],
  );

  useEffect(() => {
    const live = new Set(terminals.map((t) => t.id));
    for (const [id, view] of views.current) {
      if (!live.has(id)) {
        view.term.dispose();
        view.el.remove();
        views.current.delete(id);
      }
    }
    for (const t of terminals) {
      if (views.current.has(t.id) || !host.current) continue;
      const view = makeTerminalView(store, t.id, host.current, theme);
      view.el.hidden = t.id !== activeId;
      for (const chunk of store.history(t.id)) view.term.write(chunk);
      views.current.set(t.id, view);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [terminals, store]);

  useEffect(() => {
    for (const [id, view] of views.current) {
      const shown = id === activeId;
      view.el.hidden = !shown;
      if (shown) {
        requestAnimationFrame(() => {
          fitView(view);
          view.term.focus();
        });
      }
    }
  }, [activeId, terminals.length]);

  useEffect(() => {
    for (const view of views.current.values()) view.term.options.theme = theme === 'dark' ? DARK : LIGHT;
  }, [theme]);

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const observer = new ResizeObserver(() => {
      const view = activeId ? views.current.get(activeId) : undefined;
      if (view && !view.el.hidden) fitView(view);
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, [activeId, host]);

  // Disposed with the panel.
  useEffect(
    () => () => {
      for (const view of views.current.values()) view.term.dispose();
      views.current.clear();
    },
    [],
  );
}

/** Makes an xterm for terminal `id` in `host`, wired to the store. */
function makeTerminalView(store: TerminalsStore, id: string, host: HTMLElement, theme: 'light' | 'dark') {
  const el = document.createElement('div');
  el.className = 'term-host';
  el.dataset.terminal = id;
  host.appendChild(el);
  const term = new Terminal({
    rows: lastSize.rows,
    cols: lastSize.cols,
    cursorBlink: true,
    fontSize: 13,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
    scrollback: 5000,
    theme: theme === 'dark' ? DARK : LIGHT,
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  term.attachCustomKeyEventHandler((e) => {
    if (e.type !== 'keydown') return true;
    const key = e.key.toLowerCase();
    // Ctrl+Shift+C, or Ctrl+C with a selection: copy, not an interrupt.
    if (e.ctrlKey && key === 'c' && (e.shiftKey || term.hasSelection())) {
      const text = term.getSelection();
      if (text) void navigator.clipboard?.writeText(text).catch(() => {});
      e.preventDefault();
      return false;
    }
    if (e.ctrlKey && e.shiftKey && key === 'v') {
      e.preventDefault();
      void navigator.clipboard
        ?.readText()
        .then((text) => term.paste(text))
        .catch(() => {});
      return false;
    }
    return true;
  });
  term.onData((data) => store.input(id, data));
  term.onResize(({ rows, cols }) => store.resize(id, rows, cols));
  term.textarea?.setAttribute('aria-label', 'Terminal input: keys go to the shell');
  return { term, fit, el } satisfies View;
}

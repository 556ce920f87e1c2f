// The keyboard map (listed in components/ShortcutsOverlay's SHORTCUTS), captured
// before the editor and the terminals see the keys.

import { useEffect } from 'react';
import type { ConsolesStore } from '../store/consoles';
import type { Workspace } from '../store/workspace';
import { openTab } from '../store/project';
import type { RunActions } from './useRunActions';
import { focusView, type View } from './focus';

export function useShortcuts({
  workspace,
  consoles,
  actions,
  newFile,
  openSearch,
  show,
  showShortcuts,
}: {
  workspace: Workspace;
  consoles: ConsolesStore;
  actions: RunActions;
  newFile: () => void;
  openSearch: () => void;
  show: (view: View) => void;
  showShortcuts: () => void;
}) {
  // Re-bound on every render, so the handler always sees the current actions.
  useEffect(() => {
    const cycleTab = (step: number) => {
      const p = workspace.get().project;
      if (!p || !p.openTabs.length) return;
      const i = p.activeTab ? p.openTabs.indexOf(p.activeTab) : -1;
      const next = p.openTabs[(i + step + p.openTabs.length) % p.openTabs.length];
      workspace.change((q) => openTab(q, next), false);
    };
    const cycleConsole = (step: number) => {
      const { consoles: list, activeId } = consoles.get();
      if (!list.length) return;
      const i = list.findIndex((c) => c.id === activeId);
      consoles.activate(list[(i + step + list.length) % list.length].id);
    };
    const goTo = (view: View) => {
      show(view);
      focusView(view);
    };
    const onKey = (e: KeyboardEvent) => {
      const mod = e.ctrlKey || e.metaKey;
      const alt = e.altKey && !mod;
      let handled = true;
      // In a notebook, Ctrl/⌘+Enter runs the cell (components/Notebook).
      if (mod && !e.altKey && e.key === 'Enter' && !inNotebook(e.target)) void actions.run({ newConsole: e.shiftKey });
      else if (mod && !e.altKey && e.key === 'Enter') handled = false;
      else if (mod && e.key === '.') actions.stop();
      else if (mod && !e.shiftKey && (e.key === 's' || e.key === 'S')) actions.save();
      else if (mod && e.shiftKey && e.code === 'KeyF') openSearch();
      else if (alt && e.code === 'BracketRight') (e.shiftKey ? cycleConsole : cycleTab)(1);
      else if (alt && e.code === 'BracketLeft') (e.shiftKey ? cycleConsole : cycleTab)(-1);
      else if (alt && e.code === 'KeyN') newFile();
      else if (alt && e.code === 'Digit1') goTo('files');
      else if (alt && e.code === 'Digit2') goTo('code');
      else if (alt && e.code === 'Digit3') goTo('console');
      else if (e.key === 'F1') showShortcuts();
      else if (e.key === '?' && !mod && !isTextTarget(e.target)) showShortcuts();
      else handled = false;
      if (handled) {
        e.preventDefault();
        e.stopPropagation();
      }
    };
    window.addEventListener('keydown', onKey, true);
    return () => window.removeEventListener('keydown', onKey, true);
  });
}

function inNotebook(target: EventTarget | null): boolean {
  return target instanceof Element && !!target.closest('.notebook');
}

/** Where `?` is a character typed, not the shortcut. */
function isTextTarget(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el) return false;
  return (
    el.isContentEditable ||
    el.tagName === 'INPUT' ||
    el.tagName === 'TEXTAREA' ||
    el.tagName === 'SELECT' ||
    !!el.closest('.cm-editor, .terminal')
  );
}

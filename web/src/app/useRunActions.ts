// Run, Stop and Save, as the toolbar and the keyboard trigger them.

import { useCallback } from 'react';
import type { Runtime } from '../api/client';
import type { BoxFilesStore } from '../store/boxFiles';
import type { ConsolesStore } from '../store/consoles';
import type { ServerWorkspaceStore } from '../store/remote';
import type { Workspace } from '../store/workspace';
import type { SettingsStore } from '../store/settings';
import { requestFormat } from '../components/Editor/formatRequest';
import { saveAll, saveFile } from '../store/project';
import { lastSize } from '../components/Consoles/Consoles';
import { runRequestOf } from '../files';
import type { View } from './focus';
import type { RunRequest } from '../protocol/types';

export interface RunActions {
  /** Runs in place of the last run of the same entry, or in a console of its own. */
  run(options?: { newConsole?: boolean }): Promise<void>;
  stop(): void;
  save(): void;
}

export function useRunActions({
  workspace,
  remote,
  consoles,
  languages,
  settings,
  setNotice,
  show,
  beforeSave,
  boxFiles,
}: {
  workspace: Workspace;
  /** The signed-in user's workspace, or null for a guest. */
  remote: ServerWorkspaceStore | null;
  consoles: ConsolesStore;
  /** The server's languages, for the one the entry's extension implies. */
  languages: Runtime[];
  /** Whether a save formats the file first. */
  settings: SettingsStore;
  setNotice: (message: string) => void;
  show: (view: View) => void;
  /** Writes what waits to be written into the project first (a notebook's last outputs). */
  beforeSave?: () => void;
  /** What the session's box was given (absent without a box to sync). */
  boxFiles?: Pick<BoxFilesStore, 'sentWithRun'>;
}): RunActions {
  const run = useCallback(async ({ newConsole = false } = {}) => {
    const p = workspace.get().project;
    if (!p) return;
    if (!Object.keys(p.files).length) {
      setNotice('Make a file to run first.');
      return;
    }
    const terminal = { rows: lastSize.rows, cols: lastSize.cols };
    const files = Object.keys(p.files);
    // Without an entry (no program open, none marked) the server picks it.
    const start = (request: Omit<RunRequest, 'id'>) => {
      const title = request.entry ?? 'main file';
      consoles.start(title, request, { key: `${request.entry ?? ''}|${request.language ?? ''}`, files, newConsole });
      // The run writes these into the box: the save's write would repeat them.
      boxFiles?.sentWithRun(request);
    };
    if (remote) {
      // A saved project: write what is pending, then the server reads the
      // files itself. If saving fails (offline, a conflict), the files go
      // with the run as the editor shows them.
      const saved = await remote.saveForRun();
      const request = runRequestOf(workspace.get().project!, languages);
      // Structured results are read from stdout alone: pipes, not a terminal.
      const tty = request.sql_results ? null : terminal;
      if (saved) {
        const { entry, language, sql_results } = request;
        start({ project: saved, ...(entry ? { entry } : {}), ...(language ? { language } : {}), ...(sql_results ? { sql_results } : {}), tty });
      } else {
        start({ ...request, tty });
      }
    } else {
      // Saved in memory now; written to IndexedDB a moment later (the drafts
      // are already there), not while the program starts.
      workspace.change(saveAll, false);
      const request = runRequestOf(workspace.get().project!, languages);
      start({ ...request, tty: request.sql_results ? null : terminal });
    }
    show('console');
  }, [workspace, remote, consoles, languages, setNotice, show, boxFiles]);

  const stop = useCallback(() => {
    const { activeId } = consoles.get();
    if (activeId) consoles.stop(activeId);
  }, [consoles]);

  const save = useCallback(() => {
    const saveNow = () => {
      beforeSave?.();
      if (remote) {
        void remote.flush();
        return;
      }
      const p = workspace.get().project;
      if (p?.activeTab) workspace.change((q) => saveFile(q, p.activeTab!));
    };
    // The formatted text is what is saved (the editor writes it into the project first).
    if (settings.get().formatOnSave) void requestFormat().then(saveNow);
    else saveNow();
  }, [workspace, remote, settings, beforeSave]);

  return { run, stop, save };
}

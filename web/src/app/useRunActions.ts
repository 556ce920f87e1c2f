// Run, Stop and Save, as the toolbar and the keyboard trigger them.

import { useCallback } from 'react';
import type { Runtime } from '../api/client';
import type { ConsolesStore } from '../store/consoles';
import type { ServerWorkspaceStore } from '../store/remote';
import type { Workspace } from '../store/workspace';
import { entryFile, saveAll, saveFile } from '../store/project';
import { lastSize } from '../components/Consoles/Consoles';
import { runRequestOf } from '../files';
import type { View } from './focus';

export interface RunActions {
  run(): Promise<void>;
  stop(): void;
  save(): void;
}

export function useRunActions({
  workspace,
  remote,
  consoles,
  languages,
  setNotice,
  show,
}: {
  workspace: Workspace;
  /** The signed-in user's workspace, or null for a guest. */
  remote: ServerWorkspaceStore | null;
  consoles: ConsolesStore;
  /** The server's languages, for the one the entry's extension implies. */
  languages: Runtime[];
  setNotice: (message: string) => void;
  show: (view: View) => void;
}): RunActions {
  const run = useCallback(async () => {
    const p = workspace.get().project;
    if (!p) return;
    const entry = entryFile(p);
    if (!entry) {
      setNotice('Open a file or mark one as the entry to run.');
      return;
    }
    const tty = { rows: lastSize.rows, cols: lastSize.cols };
    if (remote) {
      // A saved project: write what is pending, then the server reads the
      // files itself. If saving fails (offline, a conflict), the files go
      // with the run as the editor shows them.
      const saved = await remote.saveForRun();
      const request = runRequestOf(workspace.get().project!, languages);
      if (saved) {
        const { entry: e, language } = request;
        consoles.start(entry, { project: saved, ...(e ? { entry: e } : {}), ...(language ? { language } : {}), tty });
      } else {
        consoles.start(entry, { ...request, tty });
      }
    } else {
      // Saved in memory now; written to IndexedDB a moment later (the drafts
      // are already there), not while the program starts.
      workspace.change(saveAll, false);
      const request = runRequestOf(workspace.get().project!, languages);
      consoles.start(entry, { ...request, tty });
    }
    show('console');
  }, [workspace, remote, consoles, languages, setNotice, show]);

  const stop = useCallback(() => {
    const { activeId } = consoles.get();
    if (activeId) consoles.stop(activeId);
  }, [consoles]);

  const save = useCallback(() => {
    if (remote) {
      void remote.flush();
      return;
    }
    const p = workspace.get().project;
    if (p?.activeTab) workspace.change((q) => saveFile(q, p.activeTab!));
  }, [workspace, remote]);

  return { run, stop, save };
}

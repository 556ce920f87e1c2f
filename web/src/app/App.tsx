// The IDE: puts the toolbar, the file tree, the editor with its tabs and
// the consoles together, and wires them to the stores. What each part
// does lives in its own hook (app/use*.ts) or component (components/*/).

import { useCallback, useState } from 'react';
import type { ConsolesStore } from '../store/consoles';
import type { Workspace } from '../store/workspace';
import type { ServerWorkspaceStore } from '../store/remote';
import type { AccountState, AccountStore } from '../store/account';
import type { RuntimesStore } from '../store/runtimes';
import { Store } from '../store/store';
import type { SettingsStore } from '../store/settings';
import { resolveTheme } from '../store/settings';
import { currentText, editFile } from '../store/project';
import { modeOfPath } from '../editor/modes';
import { useMedia, useStore } from '../hooks';
import { FileTree } from '../components/FileTree/FileTree';
import { Editor } from '../components/Editor/Editor';
import { Consoles } from '../components/Consoles/Consoles';
import { ConflictDialog, DialogHost } from '../components/Dialogs/Dialogs';
import { ProjectsDialog } from '../components/ProjectsDialog/ProjectsDialog';
import { ShortcutsOverlay } from '../components/ShortcutsOverlay/ShortcutsOverlay';
import { AccountPages } from '../components/AccountPages/AccountPages';
import { Banners } from '../components/Banners/Banners';
import { FileTabs } from '../components/FileTabs/FileTabs';
import { StatusBar } from '../components/StatusBar/StatusBar';
import { Toolbar } from '../components/Toolbar/Toolbar';
import { Workbench } from '../components/Workbench/Workbench';
import type { View } from './focus';
import { useAccountPages } from './useAccountPages';
import { useDialogs } from './useDialogs';
import { useNotice } from './useNotice';
import { usePageLifecycle } from './usePageLifecycle';
import { useProjectChange } from './useProjectChange';
import { useRunActions } from './useRunActions';
import { useShortcuts } from './useShortcuts';
import { useTreeActions } from './useTreeActions';
import { useUploads } from './uploads';

export function App({
  workspace,
  consoles,
  settings,
  runtimes,
  account,
}: {
  workspace: Workspace;
  consoles: ConsolesStore;
  settings: SettingsStore;
  runtimes: RuntimesStore;
  account?: AccountStore;
}) {
  const { project, projects, saveState, error, conflict } = useStore(workspace);
  const accountState = useStore(account ?? NO_ACCOUNT);
  const me = accountState.status === 'user' || accountState.status === 'guest' ? accountState.me : null;
  const remote = workspace.kind === 'server' ? (workspace as ServerWorkspaceStore) : null;
  const languages = useStore(runtimes);
  const { theme, tabWidth } = useStore(settings);
  const prefersDark = useMedia('(prefers-color-scheme: dark)');
  const narrow = useMedia('(max-width: 760px)');
  const shown = resolveTheme(theme, prefersDark);
  const [showProjects, setShowProjects] = useState(false);
  const [showShortcuts, setShowShortcuts] = useState(false);
  const [view, setView] = useState<View>('code');
  /** Switches the phone's view; a desktop shows every area. */
  const show = useCallback((v: View) => {
    if (narrow) setView(v);
  }, [narrow]);

  const { notice, setNotice, attempt } = useNotice();
  const { dialog, closeDialog, ask } = useDialogs();
  const change = useProjectChange(workspace, setNotice);
  const uploads = useUploads(change);
  const treeActions = useTreeActions({ project, change, ask, uploads, show });
  const runActions = useRunActions({ workspace, remote, consoles, languages, setNotice, show });
  const { page, setPage, signOut } = useAccountPages({ workspace, remote, account, ask, setNotice });
  useShortcuts({
    workspace,
    consoles,
    actions: runActions,
    newFile: () => void treeActions.newFile(''),
    show,
    showShortcuts: () => setShowShortcuts(true),
  });
  usePageLifecycle(workspace, shown);

  if (!project) return <div className="loading">Loading…</div>;

  const activePath = project.activeTab && project.activeTab in project.files ? project.activeTab : null;
  const editor = (
    <div className="editor-pane">
      <FileTabs project={project} change={change} />
      <Editor
        path={activePath}
        mode={activePath ? modeOfPath(languages, activePath) : null}
        text={activePath ? currentText(project, activePath) : ''}
        binary={!!activePath && !!project.files[activePath]?.base64 && !(activePath in project.drafts)}
        theme={shown}
        tabWidth={tabWidth}
        onChange={(path, text) => change((p) => editFile(p, path, text), false)}
      />
    </div>
  );

  return (
    <div className={`app ${narrow ? 'narrow' : 'wide'}`}>
      <Toolbar
        project={project}
        saveState={saveState}
        change={change}
        actions={runActions}
        consoles={consoles}
        settings={settings}
        languages={languages}
        account={accountState}
        narrow={narrow}
        onProjects={() => setShowProjects(true)}
        onShortcuts={() => setShowShortcuts(true)}
        onPage={setPage}
        onSignOut={() => void signOut()}
      />
      <Banners consoles={consoles} message={notice ?? error} onDismiss={() => setNotice(null)} />
      <Workbench
        narrow={narrow}
        view={view}
        onView={setView}
        consoles={consoles}
        files={<FileTree project={project} actions={treeActions} />}
        editor={editor}
        consolePane={<Consoles store={consoles} theme={shown} />}
      />
      <StatusBar project={project} languages={languages} />

      {uploads.inputs}
      <DialogHost spec={dialog} onDone={closeDialog} />
      {remote && conflict && (
        <ConflictDialog
          conflict={conflict}
          onReload={() => attempt(remote.resolveConflict('reload'))}
          onKeep={() => attempt(remote.resolveConflict('keep'))}
        />
      )}
      <AccountPages page={page} account={account} me={me} remote={remote} onSignOut={() => void signOut()} onClose={() => setPage(null)} />
      {showShortcuts && <ShortcutsOverlay onClose={() => setShowShortcuts(false)} />}
      {showProjects && (
        <ProjectsDialog
          projects={projects}
          languages={languages}
          currentId={project.id}
          onClose={() => setShowProjects(false)}
          saved={!!remote}
          onOpen={(id) => {
            attempt(workspace.open(id));
            setShowProjects(false);
          }}
          onCreate={(name, language, kind) => {
            attempt(workspace.create(name, language, kind));
            setShowProjects(false);
          }}
          onRename={async (id) => {
            const old = projects.find((p) => p.id === id)?.name ?? '';
            const name = await ask.prompt('Rename project', 'Name', old, 'Rename');
            if (name) attempt(workspace.rename(id, name));
          }}
          onDuplicate={
            remote
              ? async (id) => {
                  const old = projects.find((p) => p.id === id)?.name ?? '';
                  const name = await ask.prompt('Duplicate project', 'Name of the copy', `${old} (copy)`, 'Duplicate');
                  if (name) {
                    attempt(remote.duplicate(id, name.trim()));
                    setShowProjects(false);
                  }
                }
              : undefined
          }
          onDelete={async (id) => {
            const name = projects.find((p) => p.id === id)?.name ?? '';
            const where = remote ? 'from your account on the server' : 'from this browser';
            if (await ask.confirm(`Delete project ${name}?`, `Its files are deleted ${where}.`, 'Delete')) {
              attempt(workspace.remove(id));
            }
          }}
        />
      )}
    </div>
  );
}

/** Stands in for the account store when the IDE runs without one. */
const NO_ACCOUNT = new Store<AccountState>({ status: 'no-accounts' });

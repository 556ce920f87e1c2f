// The IDE: puts the toolbar, the file tree, the editor with its tabs and
// the consoles together, and wires them to the stores. What each part
// does lives in its own hook (app/use*.ts) or component (components/*/).

import { Suspense, lazy, useCallback, useEffect, useLayoutEffect, useMemo, useState } from 'react';
import type { ConsolesStore } from '../store/consoles';
import type { SqlSessionStore } from '../store/sqlSession';
import type { TerminalsStore } from '../store/terminals';
import type { BoxFilesSnapshot, BoxFilesStore } from '../store/boxFiles';
import { isNotebookPath, type KernelsStore, type NotebookSession } from '../store/kernels';
import type { Workspace } from '../store/workspace';
import type { ServerWorkspaceStore } from '../store/remote';
import type { AccountState, AccountStore } from '../store/account';
import type { RuntimesStore } from '../store/runtimes';
import { LSP_LANGUAGES, type LanguageServersLoader } from '../editor/lspLoader';
import { Store } from '../store/store';
import type { SettingsStore } from '../store/settings';
import { resolveTheme } from '../store/settings';
import { currentText, editFile, openTab } from '../store/project';
import { modeOfPath } from '../editor/modes';
import { useMedia, useStore, useStoreValue } from '../hooks';
import { FileTree } from '../components/FileTree/FileTree';
import { Search } from '../components/Search/Search';
import { SourceControl } from '../components/SourceControl/SourceControl';
import type { GitStore } from '../store/git';
import { Editor, type Reveal } from '../components/Editor/Editor';
import type { SourceLocation } from '../components/Problems/Problems';
import type { Problem } from '../problems/parse';
import { Consoles } from '../components/Consoles/Consoles';
import { BottomPanel } from '../components/BottomPanel/BottomPanel';
import { Terminals } from '../components/Terminals/Terminals';
import { ConflictDialog, DialogHost } from '../components/Dialogs/Dialogs';
import { ProjectsDialog } from '../components/ProjectsDialog/ProjectsDialog';
import { ShortcutsOverlay } from '../components/ShortcutsOverlay/ShortcutsOverlay';
import { AccountPages } from '../components/AccountPages/AccountPages';
import { Banners } from '../components/Banners/Banners';
import { BoxConflicts } from '../components/Banners/BoxConflicts';
import { FileTabs } from '../components/FileTabs/FileTabs';
import { StatusBar } from '../components/StatusBar/StatusBar';
import { Toolbar } from '../components/Toolbar/Toolbar';
import { Workbench } from '../components/Workbench/Workbench';
import type { View } from './focus';
import { useAccountPages } from './useAccountPages';
import { useDialogs } from './useDialogs';
import { useNotice } from './useNotice';
import { usePageLifecycle } from './usePageLifecycle';
import { useProjectAddress } from './useProjectAddress';
import { useProjectChange } from './useProjectChange';
import { useRunActions } from './useRunActions';
import { useShortcuts } from './useShortcuts';
import { useTreeActions } from './useTreeActions';
import { useUploads } from './uploads';

// The notebook view is a chunk of its own (Markdown, DOMPurify), loaded when a notebook opens.
const NotebookView = lazy(() => import('../components/Notebook/Notebook'));

export function App({
  workspace,
  consoles,
  terminals,
  settings,
  runtimes,
  account,
  sqlSession,
  kernels,
  languageServers,
  boxFiles,
  git,
}: {
  workspace: Workspace;
  /** The Source Control panel's git commands in the session's box. */
  git?: GitStore;
  /** Files that programs and terminals change in the session's box. */
  boxFiles?: BoxFilesStore;
  /** The notebooks open in this page and their kernels. */
  kernels: KernelsStore;
  consoles: ConsolesStore;
  /** The session's SQL databases (schema panel, reset). */
  sqlSession?: SqlSessionStore;
  terminals: TerminalsStore;
  settings: SettingsStore;
  runtimes: RuntimesStore;
  account?: AccountStore;
  /** The language servers in the session's box (completion, diagnostics). */
  languageServers?: LanguageServersLoader;
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
  const [showSearch, setShowSearch] = useState(false);
  const [showGit, setShowGit] = useState(false);
  const [view, setView] = useState<View>('code');
  /** Switches the phone's view; a desktop shows every area. */
  const show = useCallback((v: View) => {
    if (narrow) setView(v);
  }, [narrow]);

  const box = useStore(boxFiles ?? NO_BOX_FILES);
  const { notice, noticeAction, setNotice, attempt } = useNotice();
  const { dialog, closeDialog, ask } = useDialogs();
  const sql = useMemo(() => (sqlSession ? { store: sqlSession, confirm: ask.confirm } : undefined), [sqlSession, ask.confirm]);
  const change = useProjectChange(workspace, setNotice);
  const uploads = useUploads(change, ask, () => workspace.get().project);
  const openSearch = useCallback(() => {
    setShowSearch(true);
    show('files');
    // Already open: back to its field.
    setTimeout(() => document.querySelector<HTMLElement>('input[aria-label="Search in project"]')?.focus(), 0);
  }, [show]);
  const baseTreeActions = useTreeActions({ project, change, ask, uploads, show, narrow, setNotice, openSearch });
  const treeActions = useMemo(() => (git ? { ...baseTreeActions, sourceControl: () => setShowGit(true) } : baseTreeActions), [baseTreeActions, git]);
  const flushNotebooks = useCallback(() => kernels.flushAll(), [kernels]);
  const runActions = useRunActions({ workspace, remote, consoles, languages, settings, setNotice, show, beforeSave: flushNotebooks, boxFiles });
  const { page, setPage, signOut } = useAccountPages({ workspace, remote, account, ask, setNotice });
  useShortcuts({
    workspace,
    consoles,
    actions: runActions,
    newFile: () => void treeActions.newFile(''),
    openSearch,
    show,
    showShortcuts: () => setShowShortcuts(true),
  });
  // Notebook outputs waiting for their write go into the project before
  // the page lifecycle's flush (registered after this, so it runs after).
  useEffect(() => {
    const flush = () => kernels.flushAll();
    window.addEventListener('pagehide', flush);
    document.addEventListener('visibilitychange', flush);
    return () => {
      window.removeEventListener('pagehide', flush);
      document.removeEventListener('visibilitychange', flush);
    };
  }, [kernels]);
  usePageLifecycle(workspace, shown);
  useProjectAddress(workspace, project, setNotice);

  // The active console's problems, in the editor and its Problems panel.
  const problems = useStoreValue(consoles, (s) => s.consoles.find((c) => c.id === s.activeId)?.problems ?? NO_PROBLEMS);
  const activePath = project && project.activeTab && project.activeTab in project.files ? project.activeTab : null;
  const fileProblems = useMemo(() => problems.filter((p) => p.file === activePath), [problems, activePath]);
  const [reveal, setReveal] = useState<Reveal | null>(null);
  const jumpTo = useCallback(
    (at: SourceLocation) => {
      if (!change((p) => openTab(p, at.file), false)) return;
      setReveal((last) => ({ ...at, seq: (last?.seq ?? 0) + 1 }));
      show('code');
    },
    [change, show],
  );
  const paths = useMemo(() => Object.keys(project?.files ?? {}), [project?.files]);
  // The servers get the project's text files in the box when they start,
  // and open a file's tab for a definition in it.
  useEffect(() => {
    languageServers?.attach({
      files: () => {
        const now = workspace.get().project;
        if (!now) return [];
        return Object.keys(now.files)
          .filter((path) => !now.files[path].base64 || path in now.drafts)
          .map((path) => ({ path, content: currentText(now, path) }));
      },
      open: (path) => {
        if (change((p) => openTab(p, path), false)) show('code');
      },
      edit: (path, text) => change((p) => editFile(p, path, text), false),
    });
  }, [languageServers, workspace, change, show]);

  // A notebook's kernel lives while its tab is open (in this project).
  const openTabs = project?.openTabs;
  const projectId = project?.id ?? null;
  useEffect(() => kernels.keepOnly(projectId, (openTabs ?? []).filter(isNotebookPath)), [kernels, openTabs, projectId]);
  const writeNotebook = useCallback(
    (projectId: string, path: string, text: string) => {
      try {
        // Only into its own project (a closing notebook's last outputs may come after another opened).
        workspace.change((p) => (p.id === projectId ? editFile(p, path, text) : p), false);
      } catch {
        // The file is gone (deleted or renamed meanwhile): its outputs go with it.
      }
    },
    [workspace],
  );

  if (!project) return <div className="loading">Loading…</div>;

  const notebookPath = isNotebookPath(activePath) && !project.files[activePath!]?.base64 ? activePath : null;
  const editor = (
    <div className="editor-pane">
      <FileTabs project={project} change={change} />
      {notebookPath && (
        <Suspense fallback={<p className="placeholder">Opening the notebook…</p>}>
          <NotebookSlot
            key={`${project.id}/${notebookPath}`}
            session={kernels.session(project.id, notebookPath, writeNotebook)}
            text={currentText(project, notebookPath)}
            theme={shown}
            tabWidth={tabWidth}
          />
        </Suspense>
      )}
      {/* Kept while a notebook shows, so other files keep their undo history. */}
      <div className="editor-slot" hidden={!!notebookPath}>
        <Editor
          path={notebookPath ? null : activePath}
          mode={activePath && !notebookPath ? modeOfPath(languages, activePath) : null}
          text={activePath && !notebookPath ? currentText(project, activePath) : ''}
          binary={!!activePath && !!project.files[activePath]?.base64 && !(activePath in project.drafts)}
          theme={shown}
          tabWidth={tabWidth}
          onChange={(path, text) => change((p) => editFile(p, path, text), false)}
          problems={fileProblems}
          reveal={reveal}
          languageServers={languageServers}
        />
      </div>
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
      <Banners consoles={consoles} message={notice ?? error} action={notice ? noticeAction : null} onDismiss={() => setNotice(null)} />
      {boxFiles && <BoxConflicts store={boxFiles} project={project} />}
      <Workbench
        narrow={narrow}
        view={view}
        onView={setView}
        consoles={consoles}
        files={
          git && showGit ? (
            <SourceControl git={git} prompt={ask.prompt} confirm={ask.confirm} onClose={() => setShowGit(false)} />
          ) : showSearch ? (
            <Search
              project={project}
              change={change}
              confirm={ask.confirm}
              onJump={jumpTo}
              onReplaced={setNotice}
              onClose={() => setShowSearch(false)}
            />
          ) : (
            <FileTree project={project} actions={treeActions} box={boxFiles ? box : undefined} />
          )
        }
        editor={editor}
        consolePane={
          <BottomPanel
            consoles={consoles}
            terminals={terminals}
            consolePane={<Consoles store={consoles} theme={shown} files={paths} onJump={jumpTo} sql={sql} />}
            terminalPane={<Terminals store={terminals} theme={shown} />}
          />
        }
      />
      <StatusBar project={project} languages={languages} settings={settings} consoles={consoles} canFormat={!!languageServers && !!activePath && LSP_LANGUAGES.includes(modeOfPath(languages, activePath) ?? '')} />

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

/** The notebook view of a file: the session reads the file's text (first, or changed from outside) before showing it. */
function NotebookSlot({ session, text, theme, tabWidth }: { session: NotebookSession; text: string; theme: 'light' | 'dark'; tabWidth: number }) {
  useLayoutEffect(() => session.load(text), [session, text]);
  return <NotebookView session={session} theme={theme} tabWidth={tabWidth} />;
}

const NO_PROBLEMS: Problem[] = [];

/** Stands in for the account store when the IDE runs without one. */
const NO_ACCOUNT = new Store<AccountState>({ status: 'no-accounts' });
const NO_BOX_FILES = new Store<BoxFilesSnapshot>({ leftOut: null, tooLarge: {}, conflicts: [] });

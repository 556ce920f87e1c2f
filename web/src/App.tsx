// The IDE: toolbar, file tree, editor tabs, consoles; and the keyboard.

import { Suspense, lazy, useCallback, useEffect, useRef, useState } from 'react';
import type { ConsolesStore } from './store/consoles';
import { isActive } from './store/consoles';
import type { Workspace } from './store/workspace';
import type { ServerWorkspaceStore } from './store/remote';
import { OFFER_IMPORT, type AccountState, type AccountStore } from './store/account';
import { Store } from './store/store';
import { ProjectDb } from './store/db';
import type { SettingsStore, Theme } from './store/settings';
import { resolveTheme } from './store/settings';
import {
  ProjectError,
  baseName,
  closeTab,
  createFile,
  createFolder,
  currentText,
  deletePath,
  editFile,
  entryFile,
  isUnsaved,
  join,
  movePath,
  openTab,
  parentOf,
  saveAll,
  saveFile,
  type Project,
} from './store/project';
import { useMedia, useStore, useStoreValue } from './hooks';
import { FileTree, type TreeActions } from './components/FileTree';
import { Editor } from './components/Editor';
import { Consoles, lastSize } from './components/Consoles';
import { ConflictDialog, DialogHost, type DialogSpec } from './components/Dialogs';
import { UserMenu } from './components/UserMenu';
import { ProjectsDialog, ShortcutsOverlay } from './components/Overlays';
import { Splitter } from './components/Splitter';
import { LANGUAGES, languageName, languageOfPath } from './languages';
import { download, fileBytes, readUpload, runRequestOf, zipOf } from './files';

interface Runtime {
  id: string;
  available: boolean;
  version?: string | null;
  reason?: string | null;
}

type MobileView = 'files' | 'code' | 'console';
type AccountPage = 'signin' | 'settings' | 'admin' | 'import' | null;

// The account pages are a chunk of their own, loaded on first use.
const accountPages = () => import('./components/account');
const AuthDialog = lazy(() => accountPages().then((m) => ({ default: m.AuthDialog })));
const SettingsPage = lazy(() => accountPages().then((m) => ({ default: m.SettingsPage })));
const AdminPage = lazy(() => accountPages().then((m) => ({ default: m.AdminPage })));
const ImportDialog = lazy(() => accountPages().then((m) => ({ default: m.ImportDialog })));

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function App({
  workspace,
  consoles,
  settings,
  account,
}: {
  workspace: Workspace;
  consoles: ConsolesStore;
  settings: SettingsStore;
  account?: AccountStore;
}) {
  const { project, projects, saveState, error, conflict } = useStore(workspace);
  const accountState = useStoreValue(account ?? NO_ACCOUNT, (s) => s);
  const me = accountState.status === 'user' || accountState.status === 'guest' ? accountState.me : null;
  const remote = workspace.kind === 'server' ? (workspace as ServerWorkspaceStore) : null;
  const [page, setPage] = useState<AccountPage>(null);
  // Only what the toolbar shows: the whole app does not re-render for
  // every frame of a run.
  const running = useStoreValue(consoles, (s) => {
    const active = s.consoles.find((c) => c.id === s.activeId);
    return active ? isActive(active) : false;
  });
  const connection = useStoreValue(consoles, (s) => s.connection);
  const consoleCount = useStoreValue(consoles, (s) => s.consoles.length);
  const { theme, tabWidth } = useStore(settings);
  const prefersDark = useMedia('(prefers-color-scheme: dark)');
  const narrow = useMedia('(max-width: 760px)');
  const shown = resolveTheme(theme, prefersDark);
  const [dialog, setDialog] = useState<DialogSpec | null>(null);
  const [showProjects, setShowProjects] = useState(false);
  const [showShortcuts, setShowShortcuts] = useState(false);
  const [showMore, setShowMore] = useState(false);
  const morePanel = useRef<HTMLDivElement>(null);
  const [mobileView, setMobileView] = useState<MobileView>('code');
  const [sideWidth, setSideWidth] = useState(240);
  const [consoleHeight, setConsoleHeight] = useState(280);
  const [runtimes, setRuntimes] = useState<Runtime[]>([]);
  const [notice, setNotice] = useState<string | null>(null);
  const upload = useRef<HTMLInputElement>(null);
  const uploadDir = useRef<HTMLInputElement>(null);
  const uploadTarget = useRef('');

  useEffect(() => {
    document.documentElement.dataset.theme = shown;
  }, [shown]);

  // The phone's ⋯ panel closes on a tap anywhere else.
  useEffect(() => {
    if (!showMore) return;
    const onDown = (e: PointerEvent) => {
      const target = e.target as Node;
      if (morePanel.current?.contains(target) || (target as HTMLElement).closest?.('.more-button')) return;
      setShowMore(false);
    };
    document.addEventListener('pointerdown', onDown, true);
    return () => document.removeEventListener('pointerdown', onDown, true);
  }, [showMore]);

  useEffect(() => {
    fetch('/api/v1/runtimes')
      .then((r) => (r.ok ? r.json() : []))
      .then((list: Runtime[]) => setRuntimes(Array.isArray(list) ? list : []))
      .catch(() => setRuntimes([]));
  }, []);

  // After signing in or up, offer the browser's projects once.
  useEffect(() => {
    if (remote && window.sessionStorage.getItem(OFFER_IMPORT)) {
      window.sessionStorage.removeItem(OFFER_IMPORT);
      void hasLocalProjects().then((yes) => yes && setPage('import'));
    }
  }, [remote]);

  const signOut = useCallback(async () => {
    try {
      const saved = await workspace.flush();
      if (
        saved === false &&
        !(await confirmDialog('Sign out without saving?', 'Some changes could not be saved to the server and will be lost.', 'Sign out'))
      ) {
        return;
      }
      await account?.api.signOut();
      window.location.reload();
    } catch (e) {
      setNotice(`Could not sign out: ${errorText(e)}`);
    }
  }, [workspace, account]);

  /** Runs a workspace operation, showing a failure as a notice. */
  const attempt = useCallback((what: Promise<unknown>) => {
    what.catch((e: unknown) => setNotice(errorText(e)));
  }, []);

  useEffect(() => {
    if (!notice) return;
    const t = setTimeout(() => setNotice(null), 5000);
    return () => clearTimeout(t);
  }, [notice]);

  const prompt = (title: string, label: string, value: string, confirm: string) =>
    new Promise<string | null>((resolve) => setDialog({ kind: 'prompt', title, label, value, confirm, resolve }));
  const confirmDialog = (title: string, message: string, confirm: string) =>
    new Promise<boolean>((resolve) => setDialog({ kind: 'confirm', title, message, confirm, resolve }));

  /** Applies a project change, showing a refusal as a notice. */
  const change = useCallback(
    (update: (p: Project) => Project, immediate = true): boolean => {
      try {
        workspace.change(update, immediate);
        return true;
      } catch (e) {
        if (e instanceof ProjectError) {
          setNotice(e.message);
          return false;
        }
        throw e;
      }
    },
    [workspace],
  );

  const actions: TreeActions = {
    open: (path) => {
      change((p) => openTab(p, path), false);
      if (narrow) setMobileView('code');
      setTimeout(() => window.dispatchEvent(new Event('bytesbox:focus-editor')), 0);
    },
    newFile: async (folder) => {
      const name = await prompt('New file', folder ? `Name (in ${folder}/)` : 'Name', '', 'Create');
      if (name && change((p) => createFile(p, join(folder, name)))) {
        if (narrow) setMobileView('code');
        setTimeout(() => window.dispatchEvent(new Event('bytesbox:focus-editor')), 0);
      }
    },
    newFolder: async (folder) => {
      const name = await prompt('New folder', folder ? `Name (in ${folder}/)` : 'Name', '', 'Create');
      if (name) change((p) => createFolder(p, join(folder, name)));
    },
    rename: async (path) => {
      const name = await prompt(`Rename ${baseName(path)}`, 'New name', baseName(path), 'Rename');
      if (name && name !== baseName(path)) change((p) => movePath(p, path, join(parentOf(path), name)));
    },
    move: async (path, toFolder) => {
      let target = toFolder;
      if (target === undefined) {
        const answer = await prompt(`Move ${path}`, 'To folder (empty for the top level)', parentOf(path), 'Move');
        if (answer === null) return;
        target = answer.trim().replace(/^\/+|\/+$/g, '');
      }
      change((p) => movePath(p, path, join(target!, baseName(path))));
    },
    remove: async (path) => {
      const folder = !(project && path in project.files);
      const ok = await confirmDialog(
        `Delete ${path}?`,
        folder ? `The folder ${path} and everything in it will be deleted.` : `The file ${path} will be deleted.`,
        'Delete',
      );
      if (ok) change((p) => deletePath(p, path));
    },
    markEntry: (path) => change((p) => ({ ...p, entry: path })),
    download: (path, isFolder) => {
      if (!project) return;
      if (isFolder) download(`${baseName(path)}.zip`, zipOf(project, path), 'application/zip');
      else download(baseName(path), fileBytes(project, path));
    },
    uploadFiles: (folder) => {
      uploadTarget.current = folder;
      upload.current?.click();
    },
    uploadFolder: (folder) => {
      uploadTarget.current = folder;
      uploadDir.current?.click();
    },
    downloadProject: () => {
      if (project) download(`${project.name.replace(/[^\w.-]+/g, '_') || 'project'}.zip`, zipOf(project), 'application/zip');
    },
  };

  const onUpload = async (files: FileList | null) => {
    if (!files) return;
    const folder = uploadTarget.current;
    const read = await Promise.all(
      Array.from(files).map(async (f) => ({
        path: join(folder, (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name),
        ...(await readUpload(f)),
      })),
    );
    change((p) => {
      let next = p;
      for (const f of read) {
        if (f.path in next.files) next = deletePath(next, f.path);
        next = createFile(next, f.path, f.base64 ? '' : f.content);
        if (f.base64) next = { ...next, files: { ...next.files, [f.path]: { content: f.content, base64: true } } };
      }
      return next;
    });
    if (upload.current) upload.current.value = '';
    if (uploadDir.current) uploadDir.current.value = '';
  };

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
      const request = runRequestOf(workspace.get().project!);
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
      const request = runRequestOf(workspace.get().project!);
      consoles.start(entry, { ...request, tty });
    }
    if (narrow) setMobileView('console');
  }, [workspace, remote, consoles, narrow]);

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

  // The keyboard: captured before the editor and terminal see the keys.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const mod = e.ctrlKey || e.metaKey;
      const p = workspace.get().project;
      const cycleTab = (step: number) => {
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
      let handled = true;
      if (mod && !e.shiftKey && !e.altKey && e.key === 'Enter') void run();
      else if (mod && e.key === '.') stop();
      else if (mod && !e.shiftKey && (e.key === 's' || e.key === 'S')) save();
      else if (e.altKey && !mod && e.code === 'BracketRight') (e.shiftKey ? cycleConsole : cycleTab)(1);
      else if (e.altKey && !mod && e.code === 'BracketLeft') (e.shiftKey ? cycleConsole : cycleTab)(-1);
      else if (e.altKey && !mod && e.code === 'KeyN') void actions.newFile('');
      else if (e.altKey && !mod && e.code === 'Digit1') {
        if (narrow) setMobileView('files');
        setTimeout(() => document.querySelector<HTMLElement>('[role="treeitem"]')?.focus(), 0);
      } else if (e.altKey && !mod && e.code === 'Digit2') {
        if (narrow) setMobileView('code');
        setTimeout(() => window.dispatchEvent(new Event('bytesbox:focus-editor')), 0);
      } else if (e.altKey && !mod && e.code === 'Digit3') {
        if (narrow) setMobileView('console');
        setTimeout(() => window.dispatchEvent(new Event('bytesbox:focus-console')), 0);
      } else if (e.key === 'F1') setShowShortcuts(true);
      else if (e.key === '?' && !mod && !isTextTarget(e.target)) setShowShortcuts(true);
      else handled = false;
      if (handled) {
        e.preventDefault();
        e.stopPropagation();
      }
    };
    window.addEventListener('keydown', onKey, true);
    return () => window.removeEventListener('keydown', onKey, true);
  });

  // Pending writes go out before the page goes away.
  useEffect(() => {
    const flush = () => void workspace.flush();
    window.addEventListener('pagehide', flush);
    document.addEventListener('visibilitychange', flush);
    // Back online: saved projects retry at once rather than at the next backoff.
    window.addEventListener('online', flush);
    return () => {
      window.removeEventListener('online', flush);
      window.removeEventListener('pagehide', flush);
      document.removeEventListener('visibilitychange', flush);
    };
  }, [workspace]);

  if (!project) return <div className="loading">Loading…</div>;

  const entry = entryFile(project);
  const inferred = entry ? languageOfPath(entry) : null;
  const available = (id: string) => {
    const r = runtimes.find((x) => x.id === id);
    return !r || r.available;
  };
  const sourceFiles = Object.keys(project.files)
    .filter((p) => languageOfPath(p))
    .sort();

  const tabsBar = (
    <div className="file-tabs" role="tablist" aria-label="Open files">
      {project.openTabs.map((path) => (
        <div key={path} className={`file-tab ${path === project.activeTab ? 'active' : ''}`}>
          <button
            type="button"
            role="tab"
            aria-selected={path === project.activeTab}
            title={path}
            onClick={() => change((p) => openTab(p, path), false)}
          >
            {baseName(path)}
            {isUnsaved(project, path) && (
              <span className="unsaved-dot" aria-label="unsaved changes" title="Unsaved changes (Ctrl+S saves)">
                ●
              </span>
            )}
          </button>
          <button type="button" className="icon" aria-label={`Close ${path}`} onClick={() => change((p) => closeTab(p, path), false)}>
            ✕
          </button>
        </div>
      ))}
    </div>
  );

  const files = <FileTree project={project} actions={actions} />;
  const activePath = project.activeTab && project.activeTab in project.files ? project.activeTab : null;
  const editor = (
    <div className="editor-pane">
      {tabsBar}
      <Editor
        path={activePath}
        text={activePath ? currentText(project, activePath) : ''}
        binary={!!activePath && !!project.files[activePath]?.base64 && !(activePath in project.drafts)}
        theme={shown}
        tabWidth={tabWidth}
        onChange={(path, text) => change((p) => editFile(p, path, text), false)}
      />
    </div>
  );
  const consolePane = <Consoles store={consoles} theme={shown} />;

  const connectionText =
    connection === 'open' ? 'Connected' : connection === 'closed' ? 'Offline' : connection === 'connecting' ? 'Connecting…' : 'Reconnecting…';
  // What runs and how: inline on a desktop, in the ⋯ panel on a phone.
  const runOptions = (
    <>
      <label className="compact">
        <span className="label-text">Entry</span>
        <select
          aria-label="Entry file"
          value={project.entry ?? ''}
          onChange={(e) => change((p) => ({ ...p, entry: e.target.value || null }))}
        >
          <option value="">Current file{project.entry === null && entry ? ` (${baseName(entry)})` : ''}</option>
          {sourceFiles.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </label>
      <label className="compact">
        <span className="label-text">Language</span>
        <select
          aria-label="Language"
          value={project.language ?? ''}
          onChange={(e) => change((p) => ({ ...p, language: e.target.value || null }))}
        >
          <option value="">Auto{inferred ? ` (${inferred.name})` : ''}</option>
          {LANGUAGES.map((l) => (
            <option key={l.id} value={l.id} disabled={!available(l.id)}>
              {l.name}
              {available(l.id) ? '' : ' (not installed)'}
            </option>
          ))}
        </select>
      </label>
    </>
  );
  const viewOptions = (
    <>
      <label className="compact">
        <span className="label-text">Theme</span>
        <select aria-label="Theme" value={theme} onChange={(e) => settings.update({ theme: e.target.value as Theme })}>
          <option value="system">System</option>
          <option value="light">Light</option>
          <option value="dark">Dark</option>
        </select>
      </label>
      <label className="compact">
        <span className="label-text">Tab</span>
        <select aria-label="Tab width" value={tabWidth} onChange={(e) => settings.update({ tabWidth: Number(e.target.value) })}>
          <option value={2}>2</option>
          <option value={4}>4</option>
          <option value={8}>8</option>
        </select>
      </label>
    </>
  );
  const saveStatus = (
    <span className="save-state" data-testid="save-state" data-state={saveState} aria-live="polite">
      {SAVE_TEXT[saveState]}
    </span>
  );
  // Who is signed in: in the toolbar on a desktop, in the ⋯ panel on a phone.
  const accountControl =
    accountState.status === 'user' && me?.user ? (
      <UserMenu
        username={me.user.username}
        admin={me.user.role === 'admin'}
        onSettings={() => setPage('settings')}
        onAdmin={() => setPage('admin')}
        onImport={() => setPage('import')}
        onSignOut={() => void signOut()}
      />
    ) : accountState.status === 'guest' ? (
      <button type="button" className="sign-in-button" onClick={() => setPage('signin')}>
        Sign in
      </button>
    ) : null;
  const shortcutsButton = (
    <button
      type="button"
      className="icon"
      aria-label="Keyboard shortcuts"
      title="Keyboard shortcuts (?)"
      onClick={() => {
        setShowMore(false);
        setShowShortcuts(true);
      }}
    >
      {narrow ? '? Shortcuts' : '?'}
    </button>
  );

  return (
    <div className={`app ${narrow ? 'narrow' : 'wide'}`}>
      <header className={`toolbar ${narrow ? 'one-row' : ''}`} role="banner">
        <button type="button" className="project-button" onClick={() => setShowProjects(true)} aria-label={`Projects (current: ${project.name})`}>
          <span className="logo" aria-hidden="true">▣</span>
          <span className="project-name">{project.name}</span>
          <span aria-hidden="true">▾</span>
        </button>
        <div className="run-group">
          <button type="button" className="primary run" onClick={() => void run()} aria-label="Run (Ctrl+Enter)" title="Run (Ctrl/⌘+Enter)" disabled={!entry}>
            ▶ Run
          </button>
          <button type="button" className="stop" onClick={stop} disabled={!running} aria-label="Stop (Ctrl+.)" title="Stop (Ctrl/⌘+.)">
            ■<span className="stop-text"> Stop</span>
          </button>
        </div>
        {!narrow && runOptions}
        <span className="spacer" />
        <span className={`connection ${connection}`} role="status" aria-live="polite" data-testid="connection" title={connectionText}>
          <span className="dot" aria-hidden="true" />
          <span className="connection-text">{connectionText}</span>
        </span>
        {!narrow && saveStatus}
        {!narrow && viewOptions}
        {!narrow && accountControl}
        {narrow ? (
          <button
            type="button"
            className="icon more-button"
            aria-label="More options"
            aria-haspopup="true"
            aria-expanded={showMore}
            aria-controls="more-options"
            onClick={() => setShowMore((v) => !v)}
          >
            ⋯
          </button>
        ) : (
          shortcutsButton
        )}
        {narrow && showMore && (
          <div
            id="more-options"
            className="more-panel"
            role="group"
            aria-label="More options"
            ref={morePanel}
            onKeyDown={(e) => {
              if (e.key === 'Escape') {
                setShowMore(false);
                document.querySelector<HTMLElement>('.more-button')?.focus();
              }
            }}
          >
            {runOptions}
            {viewOptions}
            <div className="more-footer">
              {accountControl}
              {saveStatus}
              {shortcutsButton}
            </div>
          </div>
        )}
      </header>

      {connection === 'reconnecting' && (
        <div className="banner warn" role="alert">
          Lost connection to the server. Reconnecting… running programs keep going and their output will follow.
        </div>
      )}
      {(notice || error) && (
        <div className="banner error" role="alert">
          {notice ?? error}
          <button type="button" className="icon" aria-label="Dismiss" onClick={() => setNotice(null)}>
            ✕
          </button>
        </div>
      )}

      {narrow ? (
        <>
          <nav className="view-switch" aria-label="Views">
            {(['files', 'code', 'console'] as MobileView[]).map((v) => (
              <button key={v} type="button" aria-pressed={mobileView === v} onClick={() => setMobileView(v)}>
                {v === 'files' ? 'Files' : v === 'code' ? 'Code' : `Console${consoleCount ? ` (${consoleCount})` : ''}`}
              </button>
            ))}
          </nav>
          <main className="narrow-main">
            <div className="view" hidden={mobileView !== 'files'}>
              {files}
            </div>
            <div className="view" hidden={mobileView !== 'code'}>
              {editor}
            </div>
            <div className="view" hidden={mobileView !== 'console'}>
              {consolePane}
            </div>
          </main>
        </>
      ) : (
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
      )}
      <footer className="statusbar">
        <span>{entry ? `Runs ${entry}` : 'No entry file'}</span>
        <span>{project.language ? languageName(project.language) : inferred ? inferred.name : ''}</span>
        <span className="muted">Press ? for shortcuts</span>
      </footer>

      <input ref={upload} type="file" multiple hidden aria-label="Upload files" onChange={(e) => void onUpload(e.target.files)} />
      <input
        ref={uploadDir}
        type="file"
        hidden
        aria-label="Upload a folder"
        {...({ webkitdirectory: '', directory: '' } as Record<string, string>)}
        onChange={(e) => void onUpload(e.target.files)}
      />
      <DialogHost spec={dialog} onDone={() => setDialog(null)} />
      {remote && conflict && (
        <ConflictDialog
          conflict={conflict}
          onReload={() => attempt(remote.resolveConflict('reload'))}
          onKeep={() => attempt(remote.resolveConflict('keep'))}
        />
      )}
      {page && account && (
        <Suspense fallback={null}>
          {page === 'signin' && <AuthDialog api={account.api} onClose={() => setPage(null)} />}
          {page === 'settings' && me && <SettingsPage api={account.api} me={me} onSignOut={() => void signOut()} onClose={() => setPage(null)} />}
          {page === 'admin' && me && <AdminPage api={account.api} me={me} onClose={() => setPage(null)} />}
          {page === 'import' && remote && <ImportDialog workspace={remote} onClose={() => setPage(null)} />}
        </Suspense>
      )}
      {showShortcuts && <ShortcutsOverlay onClose={() => setShowShortcuts(false)} />}
      {showProjects && (
        <ProjectsDialog
          projects={projects}
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
            const name = await prompt('Rename project', 'Name', old, 'Rename');
            if (name) attempt(workspace.rename(id, name));
          }}
          onDuplicate={
            remote
              ? async (id) => {
                  const old = projects.find((p) => p.id === id)?.name ?? '';
                  const name = await prompt('Duplicate project', 'Name of the copy', `${old} (copy)`, 'Duplicate');
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
            if (await confirmDialog(`Delete project ${name}?`, `Its files are deleted ${where}.`, 'Delete')) {
              attempt(workspace.remove(id));
            }
          }}
        />
      )}
    </div>
  );
}

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

const SAVE_TEXT: Record<string, string> = {
  saved: 'Saved',
  saving: 'Saving…',
  offline: 'Offline — changes kept',
  conflict: 'Conflict',
  error: 'Not saved',
};

/** Stands in for the account store when the IDE runs without one (tests). */
const NO_ACCOUNT = new Store<AccountState>({ status: 'no-accounts' });

/** True when this browser holds guest projects (opened only to ask). */
async function hasLocalProjects(): Promise<boolean> {
  try {
    return (await new ProjectDb().list()).length > 0;
  } catch {
    return false;
  }
}

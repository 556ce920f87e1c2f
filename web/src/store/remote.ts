// A signed-in user's workspace: projects saved on the server
// (docs/api.md "/api/v1/projects"), autosaved by `ProjectSync`.
//
// The open project is the same `Project` the IDE edits for guests. Edits
// stay drafts (the unsaved dot) until the server confirms the write; then
// they become the saved content. Empty folders live only in this tab (the
// server stores files).

import { ApiError, type ApiClient, type NewFile, type ServerProject } from '../api/client';
import type { ProjectSummary } from './db';
import { deletePath, type Project } from './project';
import { changeTime } from './project';
import { Store } from './store';
import { ProjectSync, fileOfBytes, type Desired, type SyncFile, type SyncSnapshot } from './sync';
import type { KeyValue, Workspace, WorkspaceSnapshot } from './workspace';
import { templateProject, type TemplateKind } from '../templates';

const LAST_PROJECT = 'bytesbox.lastServerProject';
/** Edits not yet on the server, per project: `{path: {text, base}}` (base: the version they were made on). */
const PENDING = 'bytesbox.pending.';

type Pending = Record<string, { text: string; base: number }>;

function summaryOfServer(p: ServerProject): ProjectSummary {
  return { id: p.id, name: p.name, updatedAt: p.updated_at_ms, files: null };
}

/** A new project's files from a template (one file: run the current file). */

/** A project's files as the editor shows them (drafts included), for the server. */
export function filesOf(project: Project): NewFile[] {
  return Object.keys(project.files)
    .sort()
    .map((path) => {
      const file = project.files[path];
      if (path in project.drafts) return { path, content: project.drafts[path] };
      return file.base64 ? { path, content: file.content, encoding: 'base64' as const } : { path, content: file.content };
    });
}

/** What the server should hold for `project`. */
export function desiredOf(project: Project): Desired {
  const files: Desired['files'] = {};
  for (const path of Object.keys(project.files)) {
    files[path] = path in project.drafts ? { content: project.drafts[path] } : project.files[path];
  }
  return { files, name: project.name, language: project.language, entry: project.entry };
}

export class ServerWorkspaceStore extends Store<WorkspaceSnapshot> implements Workspace {
  readonly kind = 'server' as const;
  private sync: ProjectSync | null = null;
  private pendingTimer: ReturnType<typeof setTimeout> | null = null;
  private list: ServerProject[] = [];

  constructor(
    private api: ApiClient,
    private kv: KeyValue,
    private delayMs = 800,
    private retryMs?: number[],
  ) {
    super({ project: null, projects: [], saveState: 'saved', error: null, conflict: null });
  }

  /** The open project's id on the server, once everything shown is saved there; else null. */
  async saveForRun(): Promise<string | null> {
    if (!this.sync) return null;
    const ok = await this.sync.flush();
    return ok ? this.sync.id : null;
  }

  private async refreshList(): Promise<void> {
    this.list = await this.api.projects();
    this.list.sort((a, b) => b.updated_at_ms - a.updated_at_ms);
    this.set({ ...this.get(), projects: this.list.map(summaryOfServer) });
  }

  /** Opens the project `wanted` names (the page's address), else the last one, or the newest, or makes a first one. */
  async load(wanted: string | null = null): Promise<void> {
    await this.refreshList();
    const found = this.list.find((p) => p.id === wanted)?.id;
    const last = this.kv.getItem(LAST_PROJECT);
    const id = found ?? this.list.find((p) => p.id === last)?.id ?? this.list[0]?.id;
    if (id) await this.open(id);
    else await this.create('My first project', 'python', 'input');
  }

  async open(id: string): Promise<void> {
    await this.flush();
    const { project: server, files } = await this.api.project(id);
    const read = await Promise.all(
      files.map(async (f) => {
        const { bytes, version } = await this.api.readFile(id, f.path);
        return { path: f.path, version, content: fileOfBytes(bytes) as SyncFile | null };
      }),
    );
    const contents: Record<string, SyncFile> = Object.fromEntries(read.map((f) => [f.path, f.content!]));
    // Edits this browser made but could not save (offline, the tab closed):
    // back as drafts. One made on an older version than the server's now is
    // written on that older version, so it meets a conflict, not a silent
    // overwrite.
    const drafts: Record<string, string> = {};
    const known = new Map(read.map((f) => [f.path, f]));
    for (const [path, { text, base }] of Object.entries(this.readPending(id))) {
      const file = known.get(path);
      // Already saved (by this tab before it went, or by another tab of this browser).
      if (file?.content && !file.content.base64 && file.content.content === text) continue;
      if (!file && base === 0) contents[path] = { content: '' };
      else if (!file) known.set(path, { path, version: base, content: null });
      else if (file.version !== base) known.set(path, { path, version: base, content: null });
      if (!contents[path]) contents[path] = { content: '' };
      if (contents[path].base64 || contents[path].content !== text) drafts[path] = text;
    }
    const paths = Object.keys(contents).sort();
    const first = server.entry_file && paths.includes(server.entry_file) ? server.entry_file : (paths[0] ?? null);
    const project: Project = {
      id: server.id,
      name: server.name,
      files: contents,
      folders: [],
      entry: server.entry_file ?? null,
      language: server.language ?? null,
      drafts,
      openTabs: first ? [first] : [],
      activeTab: first,
      updatedAt: server.updated_at_ms,
    };
    this.sync?.close();
    const sync = new ProjectSync(
      this.api,
      server,
      [...known.values()],
      () => {
        const p = this.get().project;
        return p && p.id === server.id ? desiredOf(p) : desiredOf(project);
      },
      { delayMs: this.delayMs, retryMs: this.retryMs, onChange: (s) => this.onSync(sync, s) },
    );
    this.sync = sync;
    this.kv.setItem(LAST_PROJECT, id);
    this.set({ ...this.get(), project, saveState: 'saved', error: null, conflict: null });
    if (Object.keys(drafts).length) sync.schedule();
  }

  /** Stops autosave (the page is going away, or the user signs out); drafts stay kept in the browser. */
  close() {
    this.keepPending();
    this.sync?.close();
  }

  private readPending(id: string): Pending {
    try {
      const raw = this.kv.getItem(PENDING + id);
      return raw ? (JSON.parse(raw) as Pending) : {};
    } catch {
      return {};
    }
  }

  /** Keeps the drafts (edits not on the server yet) in this browser, so closing the tab loses nothing. */
  private keepPending() {
    if (this.pendingTimer) clearTimeout(this.pendingTimer);
    this.pendingTimer = null;
    const project = this.get().project;
    const sync = this.sync;
    if (!project || !sync || sync.id !== project.id) return;
    const pending: Pending = {};
    for (const [path, text] of Object.entries(project.drafts)) pending[path] = { text, base: sync.versionOf(path) };
    try {
      if (Object.keys(pending).length) this.kv.setItem(PENDING + project.id, JSON.stringify(pending));
      else if (this.kv.removeItem) this.kv.removeItem(PENDING + project.id);
      else this.kv.setItem(PENDING + project.id, '{}');
    } catch {
      /* storage full: the edits are still in the tab */
    }
  }

  private schedulePending() {
    if (!this.pendingTimer) this.pendingTimer = setTimeout(() => this.keepPending(), 250);
  }

  private onSync(sync: ProjectSync, s: SyncSnapshot) {
    if (sync !== this.sync) return;
    let project = this.get().project;
    // Drafts the server now holds are saved.
    if (project && s.status === 'saved') project = this.settle(project, sync);
    const renamed = project && this.list.find((p) => p.id === project!.id && p.name !== project!.name);
    if (renamed) {
      this.list = this.list.map((p) => (p.id === project!.id ? { ...p, name: project!.name } : p));
    }
    this.set({
      ...this.get(),
      project,
      ...(renamed ? { projects: this.list.map(summaryOfServer) } : {}),
      saveState: s.status,
      error: s.status === 'offline' ? null : s.error,
      conflict: s.conflict,
    });
    if (s.status === 'saved') this.keepPending();
  }

  private settle(project: Project, sync: ProjectSync): Project {
    let drafts: Record<string, string> | null = null;
    let files = project.files;
    for (const [path, text] of Object.entries(project.drafts)) {
      const saved = sync.savedContent(path);
      if (saved && !saved.base64 && saved.content === text) {
        drafts ??= { ...project.drafts };
        delete drafts[path];
        files = { ...files, [path]: { content: text } };
      }
    }
    return drafts ? { ...project, drafts, files } : project;
  }

  change(update: (p: Project) => Project, immediate = true) {
    const current = this.get().project;
    if (!current || !this.sync) return;
    const project = update(current);
    if (project === current) return;
    this.set({ ...this.get(), project });
    if (project.drafts !== current.drafts) this.schedulePending();
    if (immediate) void this.sync.flush();
    else this.sync.schedule();
  }

  /** Writes now (Ctrl+S, Run, the page going away). True when all is on the server. */
  async flush(): Promise<boolean> {
    if (this.pendingTimer) this.keepPending();
    return this.sync ? this.sync.flush() : true;
  }

  /** The user's answer to a conflict. */
  async resolveConflict(choice: 'reload' | 'keep'): Promise<void> {
    const sync = this.sync;
    if (!sync) return;
    if (choice === 'keep') {
      await sync.keepMine();
      return;
    }
    const answer = await sync.reload();
    const project = this.get().project;
    if (!answer || !project) return;
    let next = project;
    if (answer.kind === 'settings') {
      next = { ...project, name: answer.project.name, language: answer.project.language, entry: answer.project.entry_file };
    } else if (answer.file === null) {
      next = answer.path in project.files ? deletePath(project, answer.path) : project;
    } else {
      const drafts = { ...project.drafts };
      delete drafts[answer.path];
      next = { ...project, files: { ...project.files, [answer.path]: answer.file }, drafts, updatedAt: changeTime() };
      if (!(answer.path in project.files)) next = { ...next, openTabs: [...next.openTabs, answer.path] };
    }
    this.set({ ...this.get(), project: next });
    await sync.flush();
  }

  async create(name: string, language: string, kind: TemplateKind): Promise<void> {
    const made = templateProject(name, language, kind);
    await this.createFrom(made);
  }

  /** Makes a server project from a local one (a template, an import) and opens it. */
  async createFrom(project: Project, open = true, renameIfTaken = false): Promise<string> {
    await this.flush();
    const files = filesOf(project);
    let server: ServerProject | null = null;
    // Names are unique per user: an import takes "name (from this browser)", then "… 2", ….
    for (let attempt = 0; !server; attempt++) {
      const name =
        attempt === 0 ? project.name : `${project.name} (from this browser${attempt > 1 ? ` ${attempt}` : ''})`;
      try {
        server = (await this.api.createProject({ name, language: project.language, entry_file: project.entry, files })).project;
      } catch (e) {
        if (!(renameIfTaken && e instanceof ApiError && e.code === 'name_taken' && attempt < 20)) throw e;
      }
    }
    await this.refreshList();
    if (open) await this.open(server.id);
    return server.id;
  }

  async duplicate(id: string, name: string): Promise<void> {
    await this.flush();
    const { project } = await this.api.duplicateProject(id, name);
    await this.refreshList();
    await this.open(project.id);
  }

  async rename(id: string, name: string): Promise<void> {
    const trimmed = name.trim();
    if (!trimmed) return;
    if (this.get().project?.id === id) {
      this.change((p) => ({ ...p, name: trimmed }));
      await this.flush();
      return;
    }
    const p = this.list.find((x) => x.id === id);
    if (!p) return;
    await this.api.updateProject(id, { version: p.version, name: trimmed, language: p.language, entry_file: p.entry_file });
    await this.refreshList();
  }

  /** Deletes a project (with the version last seen); deleting the open one opens another. */
  async remove(id: string): Promise<void> {
    const open = this.get().project?.id === id;
    let version = this.list.find((p) => p.id === id)?.version;
    if (open && this.sync) {
      await this.sync.flush();
      version = this.sync.serverProject.version;
    }
    if (version === undefined) return;
    try {
      await this.api.deleteProject(id, version);
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 'not_found')) {
        await this.refreshList();
        throw e;
      }
    }
    if (open) {
      this.sync?.close();
      this.sync = null;
      this.set({ ...this.get(), project: null });
    }
    await this.refreshList();
    if (open) {
      if (this.list.length) await this.open(this.list[0].id);
      else await this.create('My project', 'python', 'hello');
    }
  }

  /** Copies browser (guest) projects into the account; returns how many. */
  async importProjects(projects: Project[]): Promise<number> {
    let done = 0;
    for (const p of projects) {
      await this.createFrom(p, false, true);
      done++;
    }
    return done;
  }
}


// The open project, the project list, and saving to IndexedDB.
//
// Structural changes (create, rename, delete) are written at once; typing
// is written after a short pause, and pending writes are flushed when the
// page is hidden, so a reload loses nothing.

import { summaryOf, type ProjectDb, type ProjectSummary } from './db';
import type { Project } from './project';
import { changeTime, newProjectId } from './project';
import { Store } from './store';
import type { SyncConflict } from './sync';
import { templateProject, type TemplateKind } from '../templates';

/** `offline` and `conflict` happen only to saved (server) projects. */
export type SaveState = 'saved' | 'saving' | 'error' | 'offline' | 'conflict';

export interface WorkspaceSnapshot {
  project: Project | null;
  projects: ProjectSummary[];
  saveState: SaveState;
  error: string | null;
  /** A stale write the user must decide about (server projects only). */
  conflict?: SyncConflict | null;
}

/**
 * What the IDE needs of a workspace: the browser's (IndexedDB, for
 * guests) or the server's (a signed-in user's saved projects).
 */
export interface Workspace {
  readonly kind: 'local' | 'server';
  get(): WorkspaceSnapshot;
  subscribe(listener: () => void): () => void;
  change(update: (p: Project) => Project, immediate?: boolean): void;
  flush(): Promise<unknown>;
  open(id: string): Promise<void>;
  create(name: string, language: string, kind: TemplateKind): Promise<void>;
  rename(id: string, name: string): Promise<void>;
  remove(id: string): Promise<void>;
}

export interface KeyValue {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem?(key: string): void;
}

const LAST_PROJECT = 'bytesbox.lastProject';

export class WorkspaceStore extends Store<WorkspaceSnapshot> implements Workspace {
  readonly kind = 'local' as const;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private db: ProjectDb,
    private kv: KeyValue,
    private delayMs = 400,
  ) {
    super({ project: null, projects: [], saveState: 'saved', error: null });
  }

  /**
   * Opens the project `wanted` names (the page's address), else the last
   * one, else makes a first one.
   */
  async load(wanted: string | null = null): Promise<void> {
    const found = wanted ? await this.db.get(wanted) : undefined;
    const last = this.kv.getItem(LAST_PROJECT);
    let project = found ?? (last ? await this.db.get(last) : undefined);
    if (!project) {
      const list = await this.db.list();
      project = list.length ? await this.db.get(list[0].id) : undefined;
    }
    if (!project) {
      project = this.fromTemplate('My first project', 'python', 'input');
      await this.db.put(project);
    }
    this.kv.setItem(LAST_PROJECT, project.id);
    this.set({ ...this.get(), project, projects: await this.db.list() });
  }

  fromTemplate(name: string, language: string, kind: TemplateKind): Project {
    return templateProject(name, language, kind);
  }

  /** Applies a change to the open project; `immediate` writes it now. */
  change(update: (p: Project) => Project, immediate = true) {
    const current = this.get().project;
    if (!current) return;
    const project = update(current);
    if (project === current) return;
    this.set({ ...this.get(), project, saveState: 'saving' });
    if (this.timer) clearTimeout(this.timer);
    if (immediate) void this.flush();
    else this.timer = setTimeout(() => void this.flush(), this.delayMs);
  }

  /** Writes the open project now. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const project = this.get().project;
    if (!project) return this.writing;
    this.writing = this.writing
      .then(() => this.db.put(project))
      .then(() => {
        // The list's entry for this project, updated here rather than by
        // reading every project back from the database.
        const summary = summaryOf(project);
        const projects = [summary, ...this.get().projects.filter((p) => p.id !== project.id)];
        const saved = this.get().project === project;
        this.set({ ...this.get(), projects, ...(saved ? { saveState: 'saved' as const, error: null } : {}) });
      })
      .catch((e: unknown) => {
        this.set({ ...this.get(), saveState: 'error', error: `Could not save: ${String(e)}` });
      });
    return this.writing;
  }

  async open(id: string): Promise<void> {
    await this.flush();
    const project = await this.db.get(id);
    if (!project) return;
    this.kv.setItem(LAST_PROJECT, id);
    this.set({ ...this.get(), project, saveState: 'saved' });
  }

  async create(name: string, language: string, kind: TemplateKind): Promise<void> {
    await this.flush();
    const project = this.fromTemplate(name, language, kind);
    await this.db.put(project);
    this.kv.setItem(LAST_PROJECT, project.id);
    this.set({ ...this.get(), project, projects: await this.db.list(), saveState: 'saved' });
  }

  /** Adds a project made elsewhere (an upload) and opens it. */
  async add(project: Project): Promise<void> {
    await this.flush();
    const copy = { ...project, id: newProjectId(), updatedAt: changeTime() };
    await this.db.put(copy);
    this.kv.setItem(LAST_PROJECT, copy.id);
    this.set({ ...this.get(), project: copy, projects: await this.db.list() });
  }

  async rename(id: string, name: string): Promise<void> {
    const trimmed = name.trim();
    if (!trimmed) return;
    if (this.get().project?.id === id) {
      this.change((p) => ({ ...p, name: trimmed }));
      await this.flush();
      return;
    }
    const project = await this.db.get(id);
    if (!project) return;
    await this.db.put({ ...project, name: trimmed, updatedAt: changeTime() });
    this.set({ ...this.get(), projects: await this.db.list() });
  }

  /** Deletes a project; deleting the open one opens another (or a new one). */
  async remove(id: string): Promise<void> {
    await this.flush();
    const wasOpen = this.get().project?.id === id;
    // Nothing may write the deleted project back.
    if (wasOpen) this.set({ ...this.get(), project: null });
    await this.db.delete(id);
    if (wasOpen) {
      const list = await this.db.list();
      if (list.length) {
        await this.open(list[0].id);
      } else {
        await this.create('My project', 'python', 'hello');
      }
    }
    this.set({ ...this.get(), projects: await this.db.list() });
  }
}

// Autosave of a saved (server) project: the editor's state is written to
// the server a moment after the last edit, each file with the version it is
// based on, so a stale tab gets a conflict instead of overwriting.
//
// The engine knows, per file, the last version and content it agreed on
// with the server. A flush compares what the editor shows with that and
// sends the difference: changed and new files (PUT, version 0 for a new
// one), the project's settings (PUT with the project's version), then
// files that are gone (DELETE with their version). A rename is therefore a
// new file and a deleted one, in that order, so nothing is lost if the
// connection drops between the two.
//
// No answer (offline, server restarting) keeps the changes and retries
// with a backoff; a 409 `conflict` stops writing until the user picks
// "reload from server" or "keep mine".

import { ApiError, type ApiClient, type ServerFile, type ServerProject } from '../api/client';

export type SyncStatus = 'saved' | 'saving' | 'offline' | 'conflict' | 'error';

export interface SyncFile {
  content: string;
  base64?: boolean;
}

/** What the editor shows: the state the server should reach. */
export interface Desired {
  files: Record<string, SyncFile>;
  name: string;
  language: string | null;
  entry: string | null;
}

interface Known {
  version: number;
  /** The content at that version, or null when not known (after "keep mine"). */
  content: SyncFile | null;
}

export interface SyncConflict {
  /** The file, or null for the project's settings. */
  path: string | null;
  /** The server's version now (0: the file was deleted there). */
  currentVersion: number;
  /** What we tried: writing, or deleting the file. */
  action: 'write' | 'delete' | 'settings';
}

export interface SyncSnapshot {
  status: SyncStatus;
  conflict: SyncConflict | null;
  error: string | null;
}

export interface SyncOptions {
  /** Wait after the last edit before writing. */
  delayMs?: number;
  /** Waits between retries while the server cannot be reached; the last repeats. */
  retryMs?: number[];
  onChange?: (snapshot: SyncSnapshot) => void;
}

/** Bytes of a file as written to the server. */
export function bytesOfFile(file: SyncFile): Uint8Array {
  if (file.base64) {
    const binary = atob(file.content);
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }
  return new TextEncoder().encode(file.content);
}

/** A file read from the server: text when it is UTF-8 without NULs, else base64. */
export function fileOfBytes(bytes: Uint8Array): SyncFile {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    if (!text.includes('\u0000')) return { content: text };
  } catch {
    /* binary */
  }
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { content: btoa(binary), base64: true };
}

function sameFile(a: SyncFile | null, b: SyncFile): boolean {
  return !!a && a.content === b.content && !!a.base64 === !!b.base64;
}

export class ProjectSync {
  private known = new Map<string, Known>();
  private project: ServerProject;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private retries = 0;
  private running: Promise<boolean> | null = null;
  private closed = false;
  private readonly delayMs: number;
  private readonly retryMs: number[];
  private readonly onChange: (snapshot: SyncSnapshot) => void;
  snapshot: SyncSnapshot = { status: 'saved', conflict: null, error: null };

  constructor(
    private api: ApiClient,
    project: ServerProject,
    files: { path: string; version: number; content: SyncFile | null }[],
    private desired: () => Desired,
    options: SyncOptions = {},
  ) {
    this.project = project;
    for (const f of files) this.known.set(f.path, { version: f.version, content: f.content });
    this.delayMs = options.delayMs ?? 800;
    this.retryMs = options.retryMs ?? [1000, 2000, 5000, 10000, 30000];
    this.onChange = options.onChange ?? (() => {});
  }

  get id(): string {
    return this.project.id;
  }

  /** The project as the server last confirmed it (its version is used to delete it). */
  get serverProject(): ServerProject {
    return this.project;
  }

  /** The version of a file as last agreed with the server (0: not there). */
  versionOf(path: string): number {
    return this.known.get(path)?.version ?? 0;
  }

  /** The content last agreed with the server, if known. */
  savedContent(path: string): SyncFile | null {
    return this.known.get(path)?.content ?? null;
  }

  /** True when the editor shows exactly what the server has. */
  inSync(): boolean {
    return this.operations(this.desired()).length === 0;
  }

  private update(change: Partial<SyncSnapshot>) {
    this.snapshot = { ...this.snapshot, ...change };
    this.onChange(this.snapshot);
  }

  /** An edit happened: write after the pause (restarted by every edit). */
  schedule() {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // Nothing to write (a tab switched, an edit undone): no "Saving…" flicker.
    if (!this.running && this.snapshot.status === 'saved' && this.inSync()) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.delayMs);
    if (this.snapshot.status === 'saved' || this.snapshot.status === 'error') this.update({ status: 'saving', error: null });
  }

  /**
   * Writes every difference now. Resolves true when the server has what the
   * editor shows, false when it could not (offline, conflict, error).
   */
  flush(): Promise<boolean> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.closed || this.snapshot.conflict) return Promise.resolve(!this.snapshot.conflict && this.inSync());
    if (this.running) {
      // One writer at a time; a flush asked for meanwhile runs after it.
      return this.running.then(() => this.flush());
    }
    this.running = this.run().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async run(): Promise<boolean> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    try {
      // Edits made while writing are picked up by the next pass.
      for (let pass = 0; pass < 1000; pass++) {
        const ops = this.operations(this.desired());
        if (!ops.length) break;
        this.update({ status: 'saving', error: null });
        for (const op of ops) {
          if (this.closed) return false;
          await op();
        }
      }
      this.retries = 0;
      this.update({ status: 'saved', error: null });
      return true;
    } catch (e) {
      if (!(e instanceof ApiError)) {
        this.update({ status: 'error', error: String(e) });
        return false;
      }
      if (e.code === 'conflict') return false; // recorded by the operation
      if (e.transient) {
        const wait = this.retryMs[Math.min(this.retries, this.retryMs.length - 1)];
        this.retries++;
        this.update({ status: 'offline', error: e.message });
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          void this.flush();
        }, wait);
        return false;
      }
      this.update({ status: 'error', error: `${e.message} (${e.code})` });
      return false;
    }
  }

  /** The writes that bring the server to `d`, in a safe order. */
  private operations(d: Desired): (() => Promise<void>)[] {
    const writes: (() => Promise<void>)[] = [];
    const deletes: (() => Promise<void>)[] = [];
    for (const [path, file] of Object.entries(d.files)) {
      const known = this.known.get(path);
      if (known && sameFile(known.content, file)) continue;
      writes.push(() => this.write(path, file));
    }
    for (const path of this.known.keys()) {
      if (!(path in d.files)) deletes.push(() => this.remove(path));
    }
    const p = this.project;
    const settings =
      p.name !== d.name || (p.language ?? null) !== d.language || (p.entry_file ?? null) !== d.entry
        ? [() => this.writeSettings(d)]
        : [];
    return [...writes, ...settings, ...deletes];
  }

  private conflict(e: unknown, conflict: Omit<SyncConflict, 'currentVersion'>): never {
    if (e instanceof ApiError && e.code === 'conflict') {
      this.update({ status: 'conflict', conflict: { ...conflict, currentVersion: e.currentVersion ?? 0 }, error: e.message });
    }
    throw e;
  }

  private async write(path: string, file: SyncFile) {
    const version = this.known.get(path)?.version ?? 0;
    let saved: ServerFile;
    try {
      saved = await this.api.writeFile(this.project.id, path, bytesOfFile(file), version);
    } catch (e) {
      this.conflict(e, { path, action: 'write' });
    }
    this.known.set(path, { version: saved.version, content: file });
  }

  private async remove(path: string) {
    const version = this.known.get(path)?.version ?? 0;
    try {
      await this.api.deleteFile(this.project.id, path, version);
    } catch (e) {
      // Already gone: what we wanted.
      if (!(e instanceof ApiError && e.code === 'not_found')) this.conflict(e, { path, action: 'delete' });
    }
    this.known.delete(path);
  }

  private async writeSettings(d: Desired) {
    try {
      this.project = await this.api.updateProject(this.project.id, {
        version: this.project.version,
        name: d.name,
        language: d.language,
        entry_file: d.entry,
      });
    } catch (e) {
      this.conflict(e, { path: null, action: 'settings' });
    }
  }

  /**
   * "Keep mine": the next write is based on the server's current version,
   * so it replaces what is there (or re-creates a file deleted there).
   */
  keepMine(): Promise<boolean> {
    const c = this.snapshot.conflict;
    if (!c) return this.flush();
    if (c.path === null) this.project = { ...this.project, version: c.currentVersion };
    else if (c.currentVersion === 0) this.known.delete(c.path);
    else this.known.set(c.path, { version: c.currentVersion, content: null });
    this.update({ conflict: null, status: 'saving', error: null });
    return this.flush();
  }

  /**
   * "Reload from server": takes the server's side of the conflict. Returns
   * what the editor must show now: the file's server content (null: the
   * file is gone), or the project's server settings.
   */
  async reload(): Promise<
    { kind: 'file'; path: string; file: SyncFile | null } | { kind: 'settings'; project: ServerProject } | null
  > {
    const c = this.snapshot.conflict;
    if (!c) return null;
    if (c.path === null) {
      const { project } = await this.api.project(this.project.id);
      this.project = project;
      this.update({ conflict: null, status: 'saved', error: null });
      return { kind: 'settings', project };
    }
    let file: SyncFile | null = null;
    try {
      const read = await this.api.readFile(this.project.id, c.path);
      file = fileOfBytes(read.bytes);
      this.known.set(c.path, { version: read.version, content: file });
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 'not_found')) throw e;
      this.known.delete(c.path);
    }
    this.update({ conflict: null, status: 'saved', error: null });
    return { kind: 'file', path: c.path, file };
  }

  /** Stops timers; nothing more is written. */
  close() {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }
}

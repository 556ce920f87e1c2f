// Files that flow from the session's box into the project (docs/protocol.md,
// "Files flow both ways"): the store asks the server to watch the
// workspace and applies each `files_changed` frame to the open project
// through the workspace, as an edit in the editor would be applied, so a
// signed-in user's project saves it with the same versions, quotas and
// conflict rules, and a guest's stays in the browser.
//
// A file with unsaved edits in the editor is never overwritten: the change
// becomes a conflict the user settles (keep mine, take theirs, or look at
// both first). A file too large to bring in is listed in the tree with its
// size, and so is what the watch left out.
//
// The other way, files saved in the editor go to the box at once
// (`files_write`), for the shells and programs already running there, and
// files and folders deleted or moved in the tree leave it at once
// (`files_delete`; a move is the old path deleted and the new one
// written). A run writes every file itself: what it carried counts as
// sent, so nothing goes twice.

import type { BytesboxClient } from '../protocol/client';
import type { FileChange, LeftOut, RunRequest, ServerMessage, WireFile } from '../protocol/types';
import type { Project, ProjectFile } from './project';
import { allFolders, changeTime, deletePath, parentOf } from './project';
import { Store } from './store';
import type { Workspace } from './workspace';

/** A box's change to a file that has unsaved edits here. */
export interface BoxConflict {
  path: string;
  /** The box's version; null when the box deleted the file. */
  theirs: ProjectFile | null;
}

export interface BoxFilesSnapshot {
  /** What the watch left out, as of its last frame (null before any). */
  leftOut: LeftOut | null;
  /** Files of the box too large to bring in: path → size in bytes. */
  tooLarge: Record<string, number>;
  conflicts: BoxConflict[];
}

/** Most conflicts and too-large files remembered (a flood stays bounded here too). */
export const MAX_CONFLICTS = 20;
export const MAX_TOO_LARGE = 200;

/** How long after a save the saved files go to the box (`files_write`). */
const WRITE_DELAY_MS = 100;
/** Most paths one `files_delete` names (the server's bound); the rest follows in the next. */
export const DELETE_BATCH_PATHS = 1000;
/** Most files, and bytes of content, one `files_write` carries; the rest follows in the next. */
export const WRITE_BATCH_FILES = 200;
export const WRITE_BATCH_CHARS = 4 << 20;

/**
 * The project's saved files that differ from what the box was last given
 * (`sent`), as one bounded `files_write` batch.
 */
export function filesToWrite(project: Project, sent: Map<string, ProjectFile>): WireFile[] {
  const batch: WireFile[] = [];
  let chars = 0;
  for (const path of Object.keys(project.files).sort()) {
    const file = project.files[path];
    const before = sent.get(path);
    if (before && sameFile(before, file)) continue;
    if (batch.length >= WRITE_BATCH_FILES || (batch.length > 0 && chars + file.content.length > WRITE_BATCH_CHARS)) break;
    chars += file.content.length;
    batch.push(file.base64 ? { path, content: file.content, encoding: 'base64' } : { path, content: file.content });
  }
  return batch;
}

/**
 * What the box was given (`sent`) that the project no longer has, as the
 * paths to delete there (at most [`DELETE_BATCH_PATHS`]): a file, or the
 * outermost folder the project no longer has at all (a folder deleted or
 * moved goes whole, with what the box holds in it besides the project's
 * files).
 */
export function pathsToDelete(project: Project, sent: Map<string, ProjectFile>): string[] {
  let folders: Set<string> | null = null;
  const paths = new Set<string>();
  for (const path of sent.keys()) {
    if (path in project.files) continue;
    folders ??= new Set(allFolders(project));
    let gone = path;
    for (let dir = parentOf(path); dir && !folders.has(dir); dir = parentOf(dir)) gone = dir;
    paths.add(gone);
  }
  return [...paths].sort().slice(0, DELETE_BATCH_PATHS);
}

/** Whether `path` is `at` or inside the folder `at`. */
function isAtOrUnder(path: string, at: string): boolean {
  return path === at || path.startsWith(at + '/');
}

export interface Applied {
  project: Project;
  conflicts: BoxConflict[];
  tooLarge: Record<string, number>;
}

function theirsOf(change: FileChange): ProjectFile | null {
  if (change.data === undefined) return null;
  return change.encoding === 'base64' ? { content: change.data, base64: true } : { content: change.data };
}

function sameFile(a: ProjectFile, b: ProjectFile): boolean {
  return a.content === b.content && !!a.base64 === !!b.base64;
}

/** Whether `path` can be a file of `project`: no file is one of its folders, and it is no folder. */
function fits(project: Project, path: string): boolean {
  for (let dir = parentOf(path); dir; dir = parentOf(dir)) if (dir in project.files) return false;
  return !allFolders(project).includes(path);
}

/**
 * Applies the box's changes to a project: new and changed files come in
 * (no tab opens for them), deleted ones go, and a file with unsaved edits
 * keeps them and gets a conflict instead. Returns the same project object
 * when nothing changed.
 */
export function applyBoxChanges(project: Project, changes: FileChange[], tooLargeBefore: Record<string, number>): Applied {
  let files: Record<string, ProjectFile> | null = null;
  let drafts: Record<string, string> | null = null;
  let next = project;
  const conflicts: BoxConflict[] = [];
  const tooLarge = { ...tooLargeBefore };
  const write = (path: string, file: ProjectFile) => {
    files ??= { ...next.files };
    files[path] = file;
  };
  for (const change of changes) {
    const path = change.path;
    delete tooLarge[path];
    const saved = (files ?? next.files)[path];
    const draft = (drafts ?? next.drafts)[path];
    if (change.op === 'delete') {
      if (!saved) continue;
      if (draft !== undefined) {
        conflicts.push({ path, theirs: null });
        continue;
      }
      if (files || drafts) next = { ...next, files: files ?? next.files, drafts: drafts ?? next.drafts };
      files = drafts = null;
      next = deletePath(next, path);
      continue;
    }
    const theirs = theirsOf(change);
    if (!theirs) {
      if (Object.keys(tooLarge).length < MAX_TOO_LARGE) tooLarge[path] = change.size ?? 0;
      continue;
    }
    if (!saved) {
      if (fits({ ...next, files: files ?? next.files }, path)) write(path, theirs);
      continue;
    }
    if (draft !== undefined) {
      if (!theirs.base64 && draft === theirs.content) {
        // The box wrote what the editor holds: nothing is unsaved any more.
        write(path, theirs);
        drafts ??= { ...next.drafts };
        delete drafts[path];
      } else {
        conflicts.push({ path, theirs });
      }
      continue;
    }
    if (!sameFile(saved, theirs)) write(path, theirs);
  }
  if (files || drafts) {
    next = { ...next, files: files ?? next.files, drafts: drafts ?? next.drafts, updatedAt: changeTime() };
  }
  return { project: next, conflicts, tooLarge };
}

/** Settles a conflict: the box's version replaces the edits (or the file, when the box deleted it). */
export function takeTheirs(project: Project, conflict: BoxConflict): Project {
  if (!conflict.theirs) return project.files[conflict.path] ? deletePath(project, conflict.path) : project;
  const drafts = { ...project.drafts };
  delete drafts[conflict.path];
  return { ...project, files: { ...project.files, [conflict.path]: conflict.theirs }, drafts, updatedAt: changeTime() };
}

/** Merges new conflicts in: one per path, the latest, at most [`MAX_CONFLICTS`]. */
export function mergeConflicts(before: BoxConflict[], added: BoxConflict[]): BoxConflict[] {
  if (!added.length) return before;
  const paths = new Set(added.map((c) => c.path));
  return [...before.filter((c) => !paths.has(c.path)), ...added].slice(-MAX_CONFLICTS);
}

/** Words for what the watch left out, for the file tree; null when nothing. */
export function leftOutText(leftOut: LeftOut | null, tooLarge: Record<string, number>): string | null {
  const parts: string[] = [];
  const large = Object.keys(tooLarge).length;
  if (large) parts.push(`${large} too large to open`);
  if (leftOut?.ignored) parts.push(`${leftOut.ignored} excluded by .bytesboxignore`);
  if (leftOut?.unlisted) parts.push(`${leftOut.unlisted} links or special files`);
  if (leftOut?.truncated) parts.push('more files than are watched');
  if (leftOut?.pending) parts.push(`${leftOut.pending} changes still coming`);
  return parts.length ? `In the box, not here: ${parts.join(' · ')}` : null;
}

export class BoxFilesStore extends Store<BoxFilesSnapshot> {
  /** What the box was last given of each file (by a run, a write, or itself). */
  private sent = new Map<string, ProjectFile>();
  private sentProject: string | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private writes = 0;
  private deletes = 0;

  constructor(
    private client: BytesboxClient,
    private workspace: Workspace,
    private writeDelayMs = WRITE_DELAY_MS,
  ) {
    super({ leftOut: null, tooLarge: {}, conflicts: [] });
    // Every session (a new one after a lost one too) is asked to watch.
    client.on('state', (state) => {
      if (state === 'open') {
        client.send({ type: 'files_watch' });
        this.schedule();
      }
    });
    if (client.state === 'open') client.send({ type: 'files_watch' });
    client.on('message', (message) => this.receive(message));
    workspace.subscribe(() => this.schedule());
  }

  private schedule() {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.write();
    }, this.writeDelayMs);
  }

  /** Sends the saved files the box does not have yet (a batch; the next follows). */
  private write() {
    const project = this.workspace.get().project;
    if (!project) return;
    if (project.id !== this.sentProject) {
      // Another project: its first run writes all of it.
      this.sentProject = project.id;
      this.sent = new Map(Object.entries(project.files));
      return;
    }
    if (this.client.state !== 'open') return;
    // Deletions first: a folder replaced by a file of the same name (or
    // the other way) must be gone before the new one is written.
    const deleted = this.sendDeletes(project);
    const files = filesToWrite(project, this.sent);
    if (files.length) {
      for (const file of files) this.sent.set(file.path, project.files[file.path]);
      this.client.send({ type: 'files_write', id: `w${++this.writes}`, files });
    }
    if (files.length >= WRITE_BATCH_FILES || deleted >= DELETE_BATCH_PATHS) this.schedule();
  }

  /** Sends a `files_delete` for what the project no longer has; returns how many paths it named. */
  private sendDeletes(project: Project): number {
    const paths = pathsToDelete(project, this.sent);
    if (!paths.length) return 0;
    for (const path of [...this.sent.keys()]) {
      if (paths.some((gone) => isAtOrUnder(path, gone))) this.sent.delete(path);
    }
    this.client.send({ type: 'files_delete', id: `d${++this.deletes}`, paths });
    return paths.length;
  }

  /**
   * Notes a run's files as the box's (the run writes them, in place of
   * everything else there), so the save that came with Run sends nothing
   * again. A run of a saved project (`project`) writes the saved files.
   */
  sentWithRun(request: Pick<RunRequest, 'files' | 'project'>) {
    const project = this.workspace.get().project;
    if (!project) return;
    this.sentProject = project.id;
    if (request.files) {
      const files = request.files.map((f): [string, ProjectFile] => [f.path, f.encoding === 'base64' ? { content: f.content, base64: true } : { content: f.content }]);
      this.sent = new Map(files);
    } else {
      this.sent = new Map(Object.entries(project.files));
    }
  }

  /**
   * The saved files the box does not have yet, as one bounded batch that
   * the caller sends along with its own frame (a `git` command reads the
   * workspace), after a `files_delete` of what the project no longer has;
   * `all` for a box that may have none of them (a new session's). What
   * does not fit follows as `files_write`.
   */
  takeUnsent(all: boolean): WireFile[] {
    const project = this.workspace.get().project;
    if (!project) return [];
    if (all || project.id !== this.sentProject) {
      this.sentProject = project.id;
      this.sent = new Map();
    } else if (this.client.state === 'open') {
      // What was deleted here goes first: the caller's frame follows it.
      this.sendDeletes(project);
    }
    const files = filesToWrite(project, this.sent);
    for (const file of files) this.sent.set(file.path, project.files[file.path]);
    // The rest of a big project, if a batch did not hold it.
    this.schedule();
    return files;
  }

  /** Applies a `files_changed` frame. */
  receive(message: ServerMessage) {
    if (message.type !== 'files_changed') return;
    let applied: Applied | null = null;
    this.workspace.change((project) => {
      applied = applyBoxChanges(project, message.changes, this.get().tooLarge);
      return applied.project;
    });
    const result = applied as Applied | null;
    // What came from the box is there already; a file in conflict keeps
    // what the box was given before, so that keeping mine writes nothing
    // until mine is saved.
    const conflicted = new Set(result?.conflicts.map((c) => c.path));
    for (const change of message.changes) {
      if (conflicted.has(change.path)) continue;
      const theirs = theirsOf(change);
      if (change.op === 'delete') this.sent.delete(change.path);
      // A file the project could not take in (a folder of the project's
      // has its path) stays the box's alone: it is not deleted there.
      else if (theirs && (!result || change.path in result.project.files)) this.sent.set(change.path, theirs);
    }
    const state = this.get();
    this.set({
      leftOut: message.left_out,
      tooLarge: result ? result.tooLarge : state.tooLarge,
      conflicts: result ? mergeConflicts(state.conflicts, result.conflicts) : state.conflicts,
    });
  }

  /** Keeps the editor's version: the conflict goes, the edits stay. */
  keepMine(path: string) {
    this.set({ ...this.get(), conflicts: this.get().conflicts.filter((c) => c.path !== path) });
  }

  /**
   * Takes the box's version. The box has it already: nothing is sent back,
   * which could overwrite (or delete) what the box made of the file since.
   */
  takeTheirs(path: string) {
    const conflict = this.get().conflicts.find((c) => c.path === path);
    if (!conflict) return;
    if (conflict.theirs) this.sent.set(path, conflict.theirs);
    else this.sent.delete(path);
    this.workspace.change((project) => takeTheirs(project, conflict));
    this.keepMine(path);
  }
}

// A project: files and folders, as pure operations that return a new
// project or throw a `ProjectError` the UI shows as it is.

export interface ProjectFile {
  content: string;
  /** Content is base64 (an uploaded binary file). */
  base64?: boolean;
}

export interface Project {
  id: string;
  name: string;
  /** Saved content, by workspace-relative path. */
  files: Record<string, ProjectFile>;
  /** Folders, including empty ones (parents of files are implied). */
  folders: string[];
  /** The file marked as entry, or null to run the current file. */
  entry: string | null;
  /** Language override, or null to infer it from the entry. */
  language: string | null;
  /** Unsaved edits by path (kept so a reload loses nothing). */
  drafts: Record<string, string>;
  openTabs: string[];
  activeTab: string | null;
  updatedAt: number;
}

export class ProjectError extends Error {}

const MAX_PATH = 4096;

/** Checks and normalises a path the way the server will (docs/protocol.md `invalid_path`). */
export function normalizePath(raw: string): string {
  const path = raw.trim().replace(/\\/g, '/').replace(/^\/+|\/+$/g, '');
  if (!path) throw new ProjectError('a name is needed');
  if (path.length > MAX_PATH) throw new ProjectError('the path is too long');
  for (const part of path.split('/')) {
    if (part === '') throw new ProjectError('a path may not have empty parts ("//")');
    if (part === '.' || part === '..') throw new ProjectError(`"${part}" is not allowed in a path`);
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(part)) throw new ProjectError('control characters are not allowed in names');
  }
  return path;
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function join(dir: string, name: string): string {
  return dir ? `${dir}/${name}` : name;
}

function isInside(path: string, folder: string): boolean {
  return path.startsWith(folder + '/');
}

/** Every folder: explicit ones and parents of files. */
export function allFolders(project: Project): string[] {
  const set = new Set<string>();
  const addParents = (path: string) => {
    for (let dir = parentOf(path); dir; dir = parentOf(dir)) set.add(dir);
  };
  for (const folder of project.folders) {
    set.add(folder);
    addParents(folder);
  }
  for (const path of Object.keys(project.files)) addParents(path);
  return [...set].sort();
}

function exists(project: Project, path: string): boolean {
  return path in project.files || allFolders(project).includes(path);
}

function touch(project: Project, change: Partial<Project>): Project {
  return { ...project, ...change, updatedAt: changeTime() };
}

export function createFile(project: Project, rawPath: string, content = ''): Project {
  const path = normalizePath(rawPath);
  if (exists(project, path)) throw new ProjectError(`"${path}" already exists`);
  for (let dir = parentOf(path); dir; dir = parentOf(dir)) {
    if (dir in project.files) throw new ProjectError(`"${dir}" is a file, not a folder`);
  }
  return touch(project, {
    files: { ...project.files, [path]: { content } },
    openTabs: project.openTabs.includes(path) ? project.openTabs : [...project.openTabs, path],
    activeTab: path,
  });
}

export function createFolder(project: Project, rawPath: string): Project {
  const path = normalizePath(rawPath);
  if (exists(project, path)) throw new ProjectError(`"${path}" already exists`);
  for (let dir = parentOf(path); dir; dir = parentOf(dir)) {
    if (dir in project.files) throw new ProjectError(`"${dir}" is a file, not a folder`);
  }
  return touch(project, { folders: [...project.folders, path].sort() });
}

/** Renames or moves a file or a folder (with everything in it). */
export function movePath(project: Project, from: string, rawTo: string): Project {
  const to = normalizePath(rawTo);
  if (from === to) return project;
  if (isInside(to, from)) throw new ProjectError('a folder cannot move into itself');
  if (exists(project, to)) throw new ProjectError(`"${to}" already exists`);
  for (let dir = parentOf(to); dir; dir = parentOf(dir)) {
    if (dir in project.files) throw new ProjectError(`"${dir}" is a file, not a folder`);
  }
  const rename = (path: string): string => {
    if (path === from) return to;
    if (isInside(path, from)) return to + path.slice(from.length);
    return path;
  };
  const isFolder = !(from in project.files);
  if (isFolder && !allFolders(project).includes(from)) throw new ProjectError(`"${from}" does not exist`);
  const remap = <T,>(record: Record<string, T>) =>
    Object.fromEntries(Object.entries(record).map(([path, value]) => [rename(path), value]));
  return touch(project, {
    files: remap(project.files),
    drafts: remap(project.drafts),
    folders: project.folders.map(rename).sort(),
    entry: project.entry ? rename(project.entry) : null,
    openTabs: project.openTabs.map(rename),
    activeTab: project.activeTab ? rename(project.activeTab) : null,
  });
}

/**
 * The path a name typed for something new in `folder` stands for: relative
 * to that folder (`lib` + `mathx.cpp` → `lib/mathx.cpp`). A name that
 * already starts with the folder's path (`lib/mathx.cpp`) is taken as
 * typed, never as `lib/lib/…`; a leading `/` means the top level.
 */
export function pathInFolder(folder: string, typed: string): string {
  const name = typed.trim().replace(/\\/g, '/');
  if (name.startsWith('/')) return name;
  if (folder && name.startsWith(folder + '/')) return name;
  return join(folder, name);
}

/**
 * Puts uploaded files into the project, replacing files of the same path
 * (the caller asked first). One file is opened; of several none is, so an
 * upload of a folder does not fill the tab bar.
 */
export function putUploads(project: Project, uploads: { path: string; content: string; base64?: boolean }[]): Project {
  let next = project;
  for (const upload of uploads) {
    const path = normalizePath(upload.path);
    if (path in next.files) next = deletePath(next, path);
    next = createFile(next, path);
    next = { ...next, files: { ...next.files, [path]: upload.base64 ? { content: upload.content, base64: true } : { content: upload.content } } };
  }
  if (uploads.length === 1) return next;
  // Tabs as they were, less the ones of files replaced (closed by deletePath): reopened unchanged.
  return { ...next, openTabs: project.openTabs, activeTab: project.activeTab };
}

/** What a delete took away, enough to put it back (`restoreDeleted`). */
export interface Deleted {
  path: string;
  files: Record<string, ProjectFile>;
  drafts: Record<string, string>;
  folders: string[];
  entry: string | null;
  openTabs: string[];
  activeTab: string | null;
}

/** What deleting `path` from `project` would take away. */
export function deletedBy(project: Project, path: string): Deleted {
  const gone = (p: string) => p === path || isInside(p, path);
  const pick = <T,>(record: Record<string, T>) => Object.fromEntries(Object.entries(record).filter(([p]) => gone(p)));
  return {
    path,
    files: pick(project.files),
    drafts: pick(project.drafts),
    // The explicit ones (empty folders): the others come back with their files.
    folders: project.folders.filter(gone),
    entry: project.entry && gone(project.entry) ? project.entry : null,
    openTabs: project.openTabs.filter(gone),
    activeTab: project.activeTab && gone(project.activeTab) ? project.activeTab : null,
  };
}

/** Puts back what a delete took away; refuses when something took its place meanwhile. */
export function restoreDeleted(project: Project, deleted: Deleted): Project {
  for (const path of [...Object.keys(deleted.files), ...deleted.folders]) {
    for (let at = path; at; at = parentOf(at)) {
      if (at in project.files) throw new ProjectError(`"${path}" cannot come back: a file "${at}" was made since`);
    }
  }
  if (Object.keys(deleted.files).some((path) => allFolders(project).includes(path))) {
    throw new ProjectError(`"${deleted.path}" cannot come back: a folder took its place`);
  }
  const openTabs = [...project.openTabs, ...deleted.openTabs.filter((p) => !project.openTabs.includes(p))];
  return touch(project, {
    files: { ...project.files, ...deleted.files },
    drafts: { ...project.drafts, ...deleted.drafts },
    folders: [...new Set([...project.folders, ...deleted.folders])].sort(),
    entry: project.entry ?? deleted.entry,
    openTabs,
    activeTab: deleted.activeTab ?? project.activeTab,
  });
}

/**
 * What each open tab is called: its file name, and for names open more
 * than once its folder too (`util.h` in `lib` and at the top level).
 */
export function tabLabels(paths: string[]): Record<string, { name: string; folder: string | null }> {
  const count = new Map<string, number>();
  for (const path of paths) count.set(baseName(path), (count.get(baseName(path)) ?? 0) + 1);
  return Object.fromEntries(
    paths.map((path) => {
      const name = baseName(path);
      const shared = (count.get(name) ?? 0) > 1;
      return [path, { name, folder: shared ? parentOf(path) || 'top level' : null }];
    }),
  );
}

/** Deletes a file, or a folder with everything in it. */
export function deletePath(project: Project, path: string): Project {
  const gone = (p: string) => p === path || isInside(p, path);
  const keep = <T,>(record: Record<string, T>) =>
    Object.fromEntries(Object.entries(record).filter(([p]) => !gone(p)));
  const openTabs = project.openTabs.filter((p) => !gone(p));
  return touch(project, {
    files: keep(project.files),
    drafts: keep(project.drafts),
    folders: project.folders.filter((p) => !gone(p)),
    entry: project.entry && gone(project.entry) ? null : project.entry,
    openTabs,
    activeTab: project.activeTab && gone(project.activeTab) ? (openTabs[openTabs.length - 1] ?? null) : project.activeTab,
  });
}

/** Records an edit; the file is "unsaved" until `saveFile`. */
export function editFile(project: Project, path: string, text: string): Project {
  const saved = project.files[path];
  if (!saved) return project;
  const drafts = { ...project.drafts };
  if (!saved.base64 && saved.content === text) delete drafts[path];
  else drafts[path] = text;
  return touch(project, { drafts });
}

export function saveFile(project: Project, path: string): Project {
  if (!(path in project.drafts)) return project;
  const drafts = { ...project.drafts };
  const content = drafts[path];
  delete drafts[path];
  return touch(project, { files: { ...project.files, [path]: { content } }, drafts });
}

export function saveAll(project: Project): Project {
  return Object.keys(project.drafts).reduce(saveFile, project);
}

export function isUnsaved(project: Project, path: string): boolean {
  return path in project.drafts;
}

/** The text shown in the editor: the draft, else the saved content. */
export function currentText(project: Project, path: string): string {
  return project.drafts[path] ?? project.files[path]?.content ?? '';
}

export function openTab(project: Project, path: string): Project {
  if (!(path in project.files)) return project;
  return touch(project, {
    openTabs: project.openTabs.includes(path) ? project.openTabs : [...project.openTabs, path],
    activeTab: path,
  });
}

export function closeTab(project: Project, path: string): Project {
  const index = project.openTabs.indexOf(path);
  const openTabs = project.openTabs.filter((p) => p !== path);
  const activeTab =
    project.activeTab === path ? (openTabs[Math.min(index, openTabs.length - 1)] ?? null) : project.activeTab;
  return touch(project, { openTabs, activeTab });
}

/**
 * The file a run starts from: the marked entry, else the current file when
 * it is a program (`isSource`); else none, and the server picks the entry
 * by the catalog's rule (a header, a data file or no open tab never stops
 * a run).
 */
export function entryFile(project: Project, isSource: (path: string) => boolean): string | null {
  if (project.entry && project.entry in project.files) return project.entry;
  const current = project.activeTab && project.activeTab in project.files ? project.activeTab : null;
  return current && isSource(current) ? current : null;
}

export function newProjectId(): string {
  return `p-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

export function makeProject(name: string, files: Record<string, string>, entry: string | null = null): Project {
  const paths = Object.keys(files);
  const first = entry ?? paths[0] ?? null;
  return {
    id: newProjectId(),
    name,
    files: Object.fromEntries(paths.map((p) => [normalizePath(p), { content: files[p] }])),
    folders: [],
    entry,
    language: null,
    drafts: {},
    openTabs: first ? [first] : [],
    activeTab: first,
    updatedAt: changeTime(),
  };
}

let lastChange = 0;

/**
 * A time for "changed now" that never repeats: two changes within one
 * millisecond must still sort as they happened (the project list is
 * ordered by it).
 */
export function changeTime(): number {
  lastChange = Math.max(Date.now(), lastChange + 1);
  return lastChange;
}

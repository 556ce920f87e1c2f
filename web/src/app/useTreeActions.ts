// What the file tree's menus, keys and drags do to the project: create,
// rename, move (to a folder picked from a list), delete (with Undo), mark
// the entry, download and upload.

import type { TreeActions } from '../components/FileTree/FileTree';
import {
  allFolders,
  baseName,
  createFile,
  createFolder,
  deletePath,
  deletedBy,
  join,
  movePath,
  openTab,
  parentOf,
  pathInFolder,
  restoreDeleted,
  type Project,
} from '../store/project';
import { download, fileBytes, zipOf } from '../files';
import type { Ask } from './useDialogs';
import type { ChangeProject } from './useProjectChange';
import type { Uploads } from './uploads';
import { focusView, type View } from './focus';
import type { NoticeAction } from './useNotice';

export function useTreeActions({
  project,
  change,
  ask,
  uploads,
  show,
  narrow,
  setNotice,
  openSearch,
}: {
  project: Project | null;
  change: ChangeProject;
  ask: Ask;
  uploads: Uploads;
  setNotice: (message: string, action?: NoticeAction) => void;
  openSearch: () => void;
  /** Switches the phone's view (no-op on a desktop). */
  show: (view: View) => void;
  narrow: boolean;
}): TreeActions {
  const editFile = () => {
    show('code');
    focusView('code');
  };
  return {
    open: (path, focusEditor) => {
      change((p) => openTab(p, path), false);
      // On a phone the tree is hidden once the code shows: the keyboard goes along.
      if (focusEditor || narrow) editFile();
    },
    newFile: async (folder) => {
      const name = await ask.prompt('New file', folder ? `Name (in ${folder}/)` : 'Name', '', 'Create');
      if (name && change((p) => createFile(p, pathInFolder(folder, name)))) editFile();
    },
    newFolder: async (folder) => {
      const name = await ask.prompt('New folder', folder ? `Name (in ${folder}/)` : 'Name', '', 'Create');
      if (name) change((p) => createFolder(p, pathInFolder(folder, name)));
    },
    rename: async (path) => {
      const name = await ask.prompt(`Rename ${baseName(path)}`, 'New name', baseName(path), 'Rename');
      if (name && name !== baseName(path)) change((p) => movePath(p, path, join(parentOf(path), name)));
    },
    move: async (path, toFolder) => {
      let target = toFolder;
      if (target === undefined) {
        // The folders it can go to: not itself, nor one inside it.
        const folders = project ? allFolders(project).filter((f) => f !== path && !f.startsWith(path + '/')) : [];
        const choices = [{ value: '', label: '(top level)' }, ...folders.map((f) => ({ value: f, label: `${f}/` }))];
        const answer = await ask.choose(`Move ${path}`, 'To folder', choices, parentOf(path), 'Move');
        if (answer === null) return;
        target = answer;
      }
      change((p) => movePath(p, path, join(target!, baseName(path))));
    },
    remove: async (path) => {
      const folder = !(project && path in project.files);
      const ok = await ask.confirm(
        `Delete ${path}?`,
        folder ? `The folder ${path} and everything in it will be deleted.` : `The file ${path} will be deleted.`,
        'Delete',
      );
      if (!ok || !project) return;
      const deleted = deletedBy(project, path);
      if (change((p) => deletePath(p, path))) {
        setNotice(`Deleted ${path}.`, { label: 'Undo', run: () => change((p) => restoreDeleted(p, deleted)) });
      }
    },
    markEntry: (path) => change((p) => ({ ...p, entry: path })),
    download: (path, isFolder) => {
      if (!project) return;
      if (isFolder) download(`${baseName(path)}.zip`, zipOf(project, path), 'application/zip');
      else download(baseName(path), fileBytes(project, path));
    },
    uploadFiles: uploads.chooseFiles,
    uploadFolder: uploads.chooseFolder,
    search: openSearch,
    downloadProject: () => {
      if (project) download(`${project.name.replace(/[^\w.-]+/g, '_') || 'project'}.zip`, zipOf(project), 'application/zip');
    },
  };
}

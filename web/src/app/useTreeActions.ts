// What the file tree's menus, keys and drags do to the project: create,
// rename, move, delete, mark the entry, download and upload.

import type { TreeActions } from '../components/FileTree/FileTree';
import { baseName, createFile, createFolder, deletePath, join, movePath, openTab, parentOf, type Project } from '../store/project';
import { download, fileBytes, zipOf } from '../files';
import type { Ask } from './useDialogs';
import type { ChangeProject } from './useProjectChange';
import type { Uploads } from './uploads';
import { focusView, type View } from './focus';

export function useTreeActions({
  project,
  change,
  ask,
  uploads,
  show,
}: {
  project: Project | null;
  change: ChangeProject;
  ask: Ask;
  uploads: Uploads;
  /** Switches the phone's view (no-op on a desktop). */
  show: (view: View) => void;
}): TreeActions {
  const editFile = () => {
    show('code');
    focusView('code');
  };
  return {
    open: (path) => {
      change((p) => openTab(p, path), false);
      editFile();
    },
    newFile: async (folder) => {
      const name = await ask.prompt('New file', folder ? `Name (in ${folder}/)` : 'Name', '', 'Create');
      if (name && change((p) => createFile(p, join(folder, name)))) editFile();
    },
    newFolder: async (folder) => {
      const name = await ask.prompt('New folder', folder ? `Name (in ${folder}/)` : 'Name', '', 'Create');
      if (name) change((p) => createFolder(p, join(folder, name)));
    },
    rename: async (path) => {
      const name = await ask.prompt(`Rename ${baseName(path)}`, 'New name', baseName(path), 'Rename');
      if (name && name !== baseName(path)) change((p) => movePath(p, path, join(parentOf(path), name)));
    },
    move: async (path, toFolder) => {
      let target = toFolder;
      if (target === undefined) {
        const answer = await ask.prompt(`Move ${path}`, 'To folder (empty for the top level)', parentOf(path), 'Move');
        if (answer === null) return;
        target = answer.trim().replace(/^\/+|\/+$/g, '');
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
      if (ok) change((p) => deletePath(p, path));
    },
    markEntry: (path) => change((p) => ({ ...p, entry: path })),
    download: (path, isFolder) => {
      if (!project) return;
      if (isFolder) download(`${baseName(path)}.zip`, zipOf(project, path), 'application/zip');
      else download(baseName(path), fileBytes(project, path));
    },
    uploadFiles: uploads.chooseFiles,
    uploadFolder: uploads.chooseFolder,
    downloadProject: () => {
      if (project) download(`${project.name.replace(/[^\w.-]+/g, '_') || 'project'}.zip`, zipOf(project), 'application/zip');
    },
  };
}

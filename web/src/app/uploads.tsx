// Uploading files and folders into the project through the browser's file
// choosers: two hidden inputs, and the folder the next upload goes into.
// Replacing a file asks first; several files are added without opening.

import { useRef, type ReactNode } from 'react';
import { join, putUploads, type Project } from '../store/project';
import { readUpload } from '../files';
import type { ChangeProject } from './useProjectChange';
import type { Ask } from './useDialogs';

export interface Uploads {
  chooseFiles(folder: string): void;
  chooseFolder(folder: string): void;
  inputs: ReactNode;
}

/** `current` is the open project as it is when the files have been read. */
export function useUploads(change: ChangeProject, ask: Ask, current: () => Project | null): Uploads {
  const files = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const target = useRef('');

  const onUpload = async (list: FileList | null) => {
    if (!list) return;
    const folder = target.current;
    const read = await Promise.all(
      Array.from(list).map(async (f) => ({
        path: join(folder, (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name),
        ...(await readUpload(f)),
      })),
    );
    if (files.current) files.current.value = '';
    if (folderInput.current) folderInput.current.value = '';
    const existing = read.map((f) => f.path).filter((path) => path in (current()?.files ?? {}));
    if (existing.length) {
      const names = existing.length > 3 ? `${existing.slice(0, 3).join(', ')} and ${existing.length - 3} more` : existing.join(', ');
      const replace = await ask.confirm(
        existing.length === 1 ? `Replace ${existing[0]}?` : `Replace ${existing.length} files?`,
        `The project already has ${names}; the upload replaces ${existing.length === 1 ? 'it' : 'them'}.`,
        'Replace',
      );
      if (!replace) return;
    }
    change((p) => putUploads(p, read));
  };

  const inputs = (
    <>
      <input ref={files} type="file" multiple hidden aria-label="Upload files" onChange={(e) => void onUpload(e.target.files)} />
      <input
        ref={folderInput}
        type="file"
        hidden
        aria-label="Upload a folder"
        {...({ webkitdirectory: '', directory: '' } as Record<string, string>)}
        onChange={(e) => void onUpload(e.target.files)}
      />
    </>
  );

  return {
    chooseFiles: (folder) => {
      target.current = folder;
      files.current?.click();
    },
    chooseFolder: (folder) => {
      target.current = folder;
      folderInput.current?.click();
    },
    inputs,
  };
}

// Uploading files and folders into the project through the browser's file
// choosers: two hidden inputs, and the folder the next upload goes into.

import { useRef, type ReactNode } from 'react';
import { createFile, deletePath, join } from '../store/project';
import { readUpload } from '../files';
import type { ChangeProject } from './useProjectChange';

export interface Uploads {
  chooseFiles(folder: string): void;
  chooseFolder(folder: string): void;
  inputs: ReactNode;
}

export function useUploads(change: ChangeProject): Uploads {
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
    change((p) => {
      let next = p;
      for (const f of read) {
        if (f.path in next.files) next = deletePath(next, f.path);
        next = createFile(next, f.path, f.base64 ? '' : f.content);
        if (f.base64) next = { ...next, files: { ...next.files, [f.path]: { content: f.content, base64: true } } };
      }
      return next;
    });
    if (files.current) files.current.value = '';
    if (folderInput.current) folderInput.current.value = '';
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

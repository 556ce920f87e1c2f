// The file tree's operations (issue 17): names relative to a folder,
// uploads, restoring a delete, tab labels.
import { describe, expect, it } from 'vitest';
import {
  ProjectError,
  allFolders,
  createFile,
  deletePath,
  deletedBy,
  editFile,
  makeProject,
  openTab,
  pathInFolder,
  putUploads,
  restoreDeleted,
  tabLabels,
} from '../src/store/project';

const project = () =>
  makeProject('p', { 'main.cpp': 'int main() {}\n', 'lib/util.h': '#pragma once\n', 'lib/deep/x.h': '' }, 'main.cpp');

describe('names typed in a folder', () => {
  it('are relative to the folder, never doubled, and / means the top level', () => {
    expect(pathInFolder('lib', 'mathx.cpp')).toBe('lib/mathx.cpp');
    expect(pathInFolder('lib', 'lib/mathx.cpp')).toBe('lib/mathx.cpp');
    expect(pathInFolder('lib', 'sub/mathx.cpp')).toBe('lib/sub/mathx.cpp');
    expect(pathInFolder('lib', '/top.cpp')).toBe('/top.cpp');
    expect(pathInFolder('', 'lib/mathx.cpp')).toBe('lib/mathx.cpp');
    expect(pathInFolder('lib', ' library.cpp ')).toBe('lib/library.cpp');
    expect(Object.keys(createFile(project(), pathInFolder('lib', '/top.cpp')).files)).toContain('top.cpp');
  });
});

describe('uploads', () => {
  it('replace files of the same path and open only a single file', () => {
    const before = openTab(editFile(project(), 'lib/util.h', 'draft'), 'lib/util.h');
    const many = putUploads(before, [
      { path: 'lib/util.h', content: 'new\n' },
      { path: 'data/a.txt', content: 'a' },
      { path: 'data/b.bin', content: 'AAEC', base64: true },
    ]);
    expect(many.files['lib/util.h']).toEqual({ content: 'new\n' });
    expect(many.files['data/b.bin']).toEqual({ content: 'AAEC', base64: true });
    expect(many.drafts['lib/util.h']).toBeUndefined();
    expect(many.openTabs).toEqual(before.openTabs);
    expect(many.activeTab).toBe('lib/util.h');
    const one = putUploads(before, [{ path: 'notes.txt', content: 'n' }]);
    expect(one.activeTab).toBe('notes.txt');
    expect(one.openTabs).toContain('notes.txt');
    expect(() => putUploads(before, [{ path: '../x', content: '' }])).toThrow(ProjectError);
  });
});

describe('undo of a delete', () => {
  it('puts a folder back with its files, drafts, entry and tabs', () => {
    const made = makeProject('p', { 'lib/a.c': 'a', 'lib/sub/b.c': 'b', 'main.c': 'm' }, 'lib/a.c');
    const before = openTab(editFile({ ...made, folders: ['lib/empty'] }, 'lib/a.c', 'draft'), 'lib/a.c');
    const deleted = deletedBy(before, 'lib');
    const after = deletePath(before, 'lib');
    expect(Object.keys(after.files)).toEqual(['main.c']);
    const back = restoreDeleted(after, deleted);
    expect(back.files).toEqual(before.files);
    expect(back.drafts).toEqual(before.drafts);
    expect(back.entry).toBe('lib/a.c');
    expect(back.activeTab).toBe('lib/a.c');
    expect(allFolders(back)).toEqual(allFolders(before));
    expect(back.folders).toEqual(before.folders);
  });

  it('refuses when a file took the place of what was deleted', () => {
    const before = project();
    const deleted = deletedBy(before, 'main.cpp');
    const retaken = createFile(deletePath(before, 'main.cpp'), 'main.cpp', 'other');
    expect(() => restoreDeleted(retaken, deleted)).toThrow(/cannot come back/);
    const folder = deletedBy(before, 'lib');
    const replaced = createFile(deletePath(before, 'lib'), 'lib', 'a file now');
    expect(() => restoreDeleted(replaced, folder)).toThrow(/cannot come back/);
  });
});

describe('tab labels', () => {
  it('show the folder only for names open more than once', () => {
    expect(tabLabels(['util.h', 'lib/util.h', 'main.c'])).toEqual({
      'util.h': { name: 'util.h', folder: 'top level' },
      'lib/util.h': { name: 'util.h', folder: 'lib' },
      'main.c': { name: 'main.c', folder: null },
    });
  });
});

import { describe, expect, it } from 'vitest';
import {
  ProjectError,
  allFolders,
  closeTab,
  createFile,
  createFolder,
  currentText,
  deletePath,
  editFile,
  entryFile,
  isUnsaved,
  makeProject,
  movePath,
  normalizePath,
  saveAll,
  saveFile,
} from '../src/store/project';
import { runRequestOf, zipOf } from '../src/files';
import { isSourceFile, extensionOf } from '../src/languages';
import { unzipSync, strFromU8 } from 'fflate';
import { TEMPLATES } from '../src/templates';
import { languageOfPath } from '../src/languages';
import { EDITOR_MODES, modeOfPath } from '../src/editor/modes';
import { catalogRuntimes } from './catalog';

const LANGUAGES = catalogRuntimes();

const base = () => makeProject('p', { 'main.py': 'print(1)\n' }, null);

describe('project operations', () => {
  it('creates files and folders, with parents implied', () => {
    let p = createFile(base(), 'src/util/helpers.py', 'x = 1');
    p = createFolder(p, 'empty');
    expect(Object.keys(p.files).sort()).toEqual(['main.py', 'src/util/helpers.py']);
    expect(allFolders(p)).toEqual(['empty', 'src', 'src/util']);
    expect(p.activeTab).toBe('src/util/helpers.py');
  });

  it('refuses duplicates, bad names and files used as folders', () => {
    const p = base();
    for (const bad of ['main.py', '../x', 'a/./b', 'a//b', '', 'a\u0001b', 'main.py/inner.py']) {
      expect(() => createFile(p, bad), bad).toThrow(ProjectError);
    }
    expect(normalizePath('/a/b/')).toBe('a/b');
  });

  it('renames and moves folders with everything in them, keeping entry and tabs', () => {
    let p = createFile(base(), 'lib/a.py', 'a');
    p = createFile(p, 'lib/deep/b.py', 'b');
    p = { ...p, entry: 'lib/a.py' };
    p = editFile(p, 'lib/deep/b.py', 'b2');
    p = movePath(p, 'lib', 'pkg/lib');
    expect(Object.keys(p.files).sort()).toEqual(['main.py', 'pkg/lib/a.py', 'pkg/lib/deep/b.py']);
    expect(p.entry).toBe('pkg/lib/a.py');
    expect(p.openTabs).toContain('pkg/lib/deep/b.py');
    expect(currentText(p, 'pkg/lib/deep/b.py')).toBe('b2');
    expect(() => movePath(p, 'pkg', 'pkg/lib/inside')).toThrow(/itself/);
    expect(() => movePath(p, 'main.py', 'pkg/lib/a.py')).toThrow(/exists/);
  });

  it('deletes a folder and everything in it', () => {
    let p = createFile(base(), 'lib/a.py', 'a');
    p = createFolder(p, 'lib/empty');
    p = { ...p, entry: 'lib/a.py' };
    p = deletePath(p, 'lib');
    expect(Object.keys(p.files)).toEqual(['main.py']);
    expect(allFolders(p)).toEqual([]);
    expect(p.entry).toBeNull();
    expect(p.openTabs).not.toContain('lib/a.py');
  });

  it('marks edits unsaved until saved, and forgets edits that undo themselves', () => {
    let p = editFile(base(), 'main.py', 'print(2)\n');
    expect(isUnsaved(p, 'main.py')).toBe(true);
    expect(p.files['main.py'].content).toBe('print(1)\n');
    p = saveFile(p, 'main.py');
    expect(isUnsaved(p, 'main.py')).toBe(false);
    expect(p.files['main.py'].content).toBe('print(2)\n');
    p = editFile(p, 'main.py', 'x');
    p = editFile(p, 'main.py', 'print(2)\n');
    expect(isUnsaved(p, 'main.py')).toBe(false);
    p = saveAll(editFile(p, 'main.py', 'y'));
    expect(p.files['main.py'].content).toBe('y');
  });

  it('runs the marked entry, else the current file when it is a program, else leaves it to the server', () => {
    const isSource = (path: string) => isSourceFile(LANGUAGES, path);
    let p = createFile(base(), 'other.py', '');
    expect(entryFile(p, isSource)).toBe('other.py');
    p = { ...p, entry: 'main.py' };
    expect(entryFile(p, isSource)).toBe('main.py');
    // A header or a data file in focus is not the program.
    for (const other of ['lib/util.h', 'input.txt']) {
      const q = createFile({ ...p, entry: null }, other, '');
      expect(q.activeTab).toBe(other);
      expect(entryFile(q, isSource)).toBeNull();
      expect(runRequestOf(q, LANGUAGES).entry).toBeUndefined();
    }
    p = closeTab(closeTab({ ...p, entry: null }, 'other.py'), 'main.py');
    expect(entryFile(p, isSource)).toBeNull();
  });
});

describe('run requests and zips', () => {
  it('send what the editor shows, with entry and inferred language', () => {
    let p = createFile(base(), 'util/u.py', 'u');
    p = editFile(p, 'main.py', 'edited');
    p = { ...p, entry: 'main.py' };
    const req = runRequestOf(p, LANGUAGES);
    expect(req.entry).toBe('main.py');
    expect(req.language).toBe('python');
    expect(req.files).toEqual([
      { path: 'main.py', content: 'edited' },
      { path: 'util/u.py', content: 'u' },
    ]);
    expect(runRequestOf({ ...p, language: 'bash' }, LANGUAGES).language).toBe('bash');
    // Before the server's list is known, the server infers the language.
    expect(runRequestOf(p, []).language).toBeUndefined();
  });

  it('zip the project or one folder', () => {
    let p = createFile(base(), 'lib/a.py', 'A');
    p = createFolder(p, 'lib/empty');
    const all = unzipSync(zipOf(p));
    expect(strFromU8(all['main.py'])).toBe('print(1)\n');
    expect(strFromU8(all['lib/a.py'])).toBe('A');
    expect('lib/empty/' in all).toBe(true);
    const lib = unzipSync(zipOf(p, 'lib'));
    expect(Object.keys(lib).sort()).toEqual(['a.py', 'empty/']);
  });
});

describe('the server\'s languages', () => {
  it('are read from the catalog', () => {
    expect(LANGUAGES.map((l) => l.id)).toContain('python');
    expect(LANGUAGES.every((l) => l.name && l.extensions.length)).toBe(true);
  });

  it('each have an editor mode, and files get theirs', () => {
    for (const language of LANGUAGES) expect(EDITOR_MODES, language.id).toContain(language.id);
    expect(modeOfPath(LANGUAGES, 'src/main.rs')).toBe('rust');
    expect(modeOfPath(LANGUAGES, 'include/util.hpp')).toBe('cpp');
    expect(modeOfPath(LANGUAGES, 'README.md')).toBeNull();
    expect(modeOfPath([], 'main.py')).toBeNull();
  });
});

describe('templates', () => {
  it('exist for every language of the catalog, and each entry belongs to its language', () => {
    for (const language of LANGUAGES) {
      const kinds = TEMPLATES[language.id];
      expect(kinds, language.id).toBeDefined();
      for (const t of Object.values(kinds)) {
        expect(t.entry && t.entry in t.files, language.id).toBe(true);
        // A language picked by name only (the SQL servers) shares its
        // extension with the one a file of it implies (SQLite).
        if (language.named_only) expect(language.extensions, language.id).toContain(extensionOf(t.entry!));
        else expect(languageOfPath(LANGUAGES, t.entry!)?.id).toBe(language.id);
      }
      expect(Object.keys(kinds.multi.files).length).toBeGreaterThan(1);
    }
  });
});

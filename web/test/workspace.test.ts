import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { ProjectDb } from '../src/store/db';
import { WorkspaceStore } from '../src/store/workspace';
import { SettingsStore, resolveTheme } from '../src/store/settings';
import { createFile, editFile } from '../src/store/project';
import { Memory } from './memory';

describe('WorkspaceStore', () => {
  it('makes a first project, and finds it (with unsaved edits) after a "reload"', async () => {
    const factory = new IDBFactory();
    const kv = new Memory();
    const first = new WorkspaceStore(new ProjectDb(factory), kv, 5);
    await first.load();
    const id = first.get().project!.id;
    first.change((p) => createFile(p, 'notes/todo.txt', 'buy milk'));
    first.change((p) => editFile(p, 'notes/todo.txt', 'buy oat milk'), false);
    await first.flush();

    const second = new WorkspaceStore(new ProjectDb(factory), kv, 5);
    await second.load();
    const p = second.get().project!;
    expect(p.id).toBe(id);
    expect(p.files['notes/todo.txt'].content).toBe('buy milk');
    expect(p.drafts['notes/todo.txt']).toBe('buy oat milk');
    expect(second.get().saveState).toBe('saved');
  });

  it('opens the project its address names at load, else the last one', async () => {
    const factory = new IDBFactory();
    const kv = new Memory();
    const store = new WorkspaceStore(new ProjectDb(factory), kv, 5);
    await store.load();
    const first = store.get().project!.id;
    await store.create('Second', 'python', 'hello');
    const second = store.get().project!.id;

    const reloaded = new WorkspaceStore(new ProjectDb(factory), kv, 5);
    await reloaded.load(first);
    expect(reloaded.get().project!.id).toBe(first);
    const unknown = new WorkspaceStore(new ProjectDb(factory), kv, 5);
    await unknown.load('p-no-such-project');
    // The last opened (the address's, just above), not a new one.
    expect(unknown.get().project!.id).toBe(first);
    expect(unknown.get().projects.map((p) => p.id).sort()).toEqual([first, second].sort());
  });

  it('marks the entry of a new project made from a template, one file or several', async () => {
    const store = new WorkspaceStore(new ProjectDb(new IDBFactory()), new Memory(), 5);
    await store.load();
    await store.create('Hello C', 'c', 'hello');
    expect(store.get().project!.entry).toBe('main.c');
    await store.create('Geometry', 'python', 'multi');
    expect(store.get().project!.entry).toBe('main.py');
  });

  it('keeps a list of projects to switch between, and deletes them', async () => {
    const store = new WorkspaceStore(new ProjectDb(new IDBFactory()), new Memory(), 5);
    await store.load();
    const first = store.get().project!.id;
    await store.create('Java things', 'java', 'multi');
    const java = store.get().project!;
    expect(java.name).toBe('Java things');
    expect(java.entry).toBe('com/example/app/Main.java');
    expect(store.get().projects.map((p) => p.name).sort()).toEqual(['Java things', 'My first project']);
    await store.open(first);
    expect(store.get().project!.id).toBe(first);
    await store.rename(java.id, 'Renamed');
    expect(store.get().projects.find((p) => p.id === java.id)?.name).toBe('Renamed');
    await store.remove(first);
    expect(store.get().project!.id).toBe(java.id);
    expect(store.get().projects).toHaveLength(1);
  });

  it('keeps the project list current after a write without reading every project back', async () => {
    const db = new ProjectDb(new IDBFactory());
    const store = new WorkspaceStore(db, new Memory(), 5);
    await store.load();
    await store.create('Second', 'python', 'hello');
    let listed = 0;
    const list = db.list.bind(db);
    db.list = () => {
      listed++;
      return list();
    };
    store.change((p) => createFile(p, 'extra.py', ''));
    await store.flush();
    expect(listed).toBe(0);
    expect(store.get().projects.map((p) => [p.name, p.files])).toEqual([
      ['Second', 2],
      ['My first project', 1],
    ]);
    expect(await list()).toEqual(store.get().projects);
  });

  it('writes typing after a pause, not on every key', async () => {
    const db = new ProjectDb(new IDBFactory());
    const store = new WorkspaceStore(db, new Memory(), 30);
    await store.load();
    const id = store.get().project!.id;
    store.change((p) => editFile(p, 'main.py', 'typed'), false);
    expect(store.get().saveState).toBe('saving');
    expect((await db.get(id))!.drafts['main.py']).toBeUndefined();
    await new Promise((r) => setTimeout(r, 80));
    expect((await db.get(id))!.drafts['main.py']).toBe('typed');
    expect(store.get().saveState).toBe('saved');
  });
});

describe('SettingsStore', () => {
  it('remembers theme, tab width and format on save, and ignores junk', () => {
    const kv = new Memory();
    new SettingsStore(kv).update({ theme: 'dark', tabWidth: 2, formatOnSave: true });
    expect(new SettingsStore(kv).get()).toEqual({ theme: 'dark', tabWidth: 2, formatOnSave: true });
    kv.setItem('bytesbox.settings', '{"theme":"purple","tabWidth":99,"formatOnSave":"yes"}');
    expect(new SettingsStore(kv).get()).toEqual({ theme: 'system', tabWidth: 4, formatOnSave: false });
    kv.setItem('bytesbox.settings', 'not json');
    expect(new SettingsStore(kv).get().theme).toBe('system');
    expect(resolveTheme('system', true)).toBe('dark');
    expect(resolveTheme('light', true)).toBe('light');
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../src/api/client';
import { ProjectSync, bytesOfFile, fileOfBytes, type Desired } from '../src/store/sync';
import { ServerWorkspaceStore, desiredOf } from '../src/store/remote';
import { createFile, editFile, movePath } from '../src/store/project';
import { FakeServer } from './fakeserver';
import { Memory } from './memory';

async function setUp(files: Record<string, string> = { 'main.py': 'print(1)\n' }) {
  const server = new FakeServer();
  const api = new ApiClient(server.fetch);
  await api.me();
  const created = await api.createProject({ name: 'P', files: Object.entries(files).map(([path, content]) => ({ path, content })) });
  const desired: Desired = { files: {}, name: 'P', language: null, entry: null };
  for (const [path, content] of Object.entries(files)) desired.files[path] = { content };
  const states: string[] = [];
  const sync = new ProjectSync(
    api,
    created.project,
    created.files.map((f) => ({ path: f.path, version: f.version, content: { content: files[f.path] } })),
    () => desired,
    { delayMs: 800, retryMs: [1000, 5000], onChange: (s) => states.push(s.status) },
  );
  server.log = [];
  return { server, api, sync, desired, id: created.project.id, states };
}

describe('ProjectSync', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('writes once, 800 ms after the last of several edits, with the version it is based on', async () => {
    const { server, sync, desired, id } = await setUp();
    for (const text of ['p', 'pr', 'print(2)']) {
      desired.files['main.py'] = { content: text };
      sync.schedule();
      await vi.advanceTimersByTimeAsync(500);
    }
    expect(server.writes()).toEqual([]);
    expect(sync.snapshot.status).toBe('saving');
    await vi.advanceTimersByTimeAsync(300);
    expect(server.writes()).toEqual([`PUT /api/v1/projects/${id}/files/main.py?version=1`]);
    expect(server.text(id, 'main.py')).toBe('print(2)');
    expect(sync.snapshot.status).toBe('saved');
    expect(sync.versionOf('main.py')).toBe(2);

    // The next write is based on the version the server gave.
    desired.files['main.py'] = { content: 'print(3)' };
    expect(await sync.flush()).toBe(true);
    expect(server.writes().at(-1)).toBe(`PUT /api/v1/projects/${id}/files/main.py?version=2`);
    expect(sync.versionOf('main.py')).toBe(3);
    // Nothing changed: nothing is written.
    await sync.flush();
    expect(server.writes()).toHaveLength(2);
  });

  it('does not flip to "Saving…" when nothing changed (a tab switch), nor write', async () => {
    const { server, sync, states } = await setUp();
    sync.schedule();
    expect(sync.snapshot.status).toBe('saved');
    await vi.advanceTimersByTimeAsync(2000);
    expect(states).toEqual([]);
    expect(server.writes()).toEqual([]);
  });

  it('renames as "create the new file, then delete the old one", and saves the settings', async () => {
    const { server, sync, desired, id } = await setUp({ 'a.py': 'A', 'b.py': 'B' });
    desired.files = { 'src/a.py': { content: 'A' }, 'b.py': { content: 'B' } };
    desired.entry = 'src/a.py';
    expect(await sync.flush()).toBe(true);
    expect(server.writes()).toEqual([
      `PUT /api/v1/projects/${id}/files/src/a.py?version=0`,
      `PUT /api/v1/projects/${id}`,
      `DELETE /api/v1/projects/${id}/files/a.py?version=1`,
    ]);
    expect([...server.projects.get(id)!.files.keys()].sort()).toEqual(['b.py', 'src/a.py']);
    expect(server.projects.get(id)!.entry_file).toBe('src/a.py');
    expect(sync.serverProject.version).toBe(2);
  });

  it('stops at a conflict from another tab, and "keep mine" overwrites with the current version', async () => {
    const { server, sync, desired, id, states } = await setUp();
    server.writeBehind(id, 'main.py', 'print("other tab")'); // now version 2
    desired.files['main.py'] = { content: 'print("mine")' };
    expect(await sync.flush()).toBe(false);
    expect(sync.snapshot.status).toBe('conflict');
    expect(sync.snapshot.conflict).toEqual({ path: 'main.py', currentVersion: 2, action: 'write' });
    expect(server.text(id, 'main.py')).toBe('print("other tab")');

    // Nothing is written while the user has not decided, however much they type.
    desired.files['main.py'] = { content: 'print("mine!")' };
    sync.schedule();
    await vi.advanceTimersByTimeAsync(5000);
    expect(await sync.flush()).toBe(false);
    expect(server.writes()).toHaveLength(1);

    expect(await sync.keepMine()).toBe(true);
    expect(server.writes().at(-1)).toBe(`PUT /api/v1/projects/${id}/files/main.py?version=2`);
    expect(server.text(id, 'main.py')).toBe('print("mine!")');
    expect(sync.snapshot).toEqual({ status: 'saved', conflict: null, error: null });
    expect(states).toContain('conflict');
  });

  it('"reload from server" takes the other tab\'s text and writes nothing', async () => {
    const { server, sync, desired, id } = await setUp();
    server.writeBehind(id, 'main.py', 'print("other tab")');
    desired.files['main.py'] = { content: 'print("mine")' };
    await sync.flush();
    const answer = await sync.reload();
    expect(answer).toEqual({ kind: 'file', path: 'main.py', file: { content: 'print("other tab")' } });
    desired.files['main.py'] = { content: 'print("other tab")' };
    expect(await sync.flush()).toBe(true);
    expect(server.writes()).toHaveLength(1); // only the refused one
    expect(sync.versionOf('main.py')).toBe(2);
  });

  it('a file deleted by another tab is a conflict with version 0; keeping mine creates it again', async () => {
    const { server, sync, desired, id } = await setUp();
    server.projects.get(id)!.files.delete('main.py');
    desired.files['main.py'] = { content: 'print("still here")' };
    await sync.flush();
    expect(sync.snapshot.conflict).toEqual({ path: 'main.py', currentVersion: 0, action: 'write' });
    await sync.keepMine();
    expect(server.writes().at(-1)).toBe(`PUT /api/v1/projects/${id}/files/main.py?version=0`);
    expect(server.text(id, 'main.py')).toBe('print("still here")');
  });

  it('keeps the changes while offline and retries with a backoff until the server answers', async () => {
    const { server, sync, desired, id } = await setUp();
    server.offline = true;
    desired.files['main.py'] = { content: 'print("offline edit")' };
    expect(await sync.flush()).toBe(false);
    expect(sync.snapshot.status).toBe('offline');
    const attempts = () => server.log.filter((r) => r.method === 'PUT').length;
    expect(attempts()).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(attempts()).toBe(2);
    await vi.advanceTimersByTimeAsync(4999);
    expect(attempts()).toBe(2); // the second wait is 5 s
    await vi.advanceTimersByTimeAsync(1);
    expect(attempts()).toBe(3);
    expect(sync.snapshot.status).toBe('offline');
    server.offline = false;
    await vi.advanceTimersByTimeAsync(5000);
    expect(sync.snapshot.status).toBe('saved');
    expect(server.text(id, 'main.py')).toBe('print("offline edit")');
  });

  it('reports a refusal (a quota) as an error, and tries again on the next edit', async () => {
    const { server, sync, desired } = await setUp();
    const real = server.fetch;
    server.fetch = async (url, init) =>
      init?.method === 'PUT'
        ? new Response(JSON.stringify({ error: { code: 'quota_exceeded', message: 'storage quota reached' } }), { status: 413 })
        : real(url, init);
    const api = new ApiClient((u, i) => server.fetch(u, i));
    await api.me();
    const s2 = new ProjectSync(api, sync.serverProject, [{ path: 'main.py', version: 1, content: { content: 'print(1)\n' } }], () => desired);
    desired.files['main.py'] = { content: 'x' };
    expect(await s2.flush()).toBe(false);
    expect(s2.snapshot.status).toBe('error');
    expect(s2.snapshot.error).toMatch(/storage quota reached \(quota_exceeded\)/);
    server.fetch = real;
    s2.schedule();
    await vi.advanceTimersByTimeAsync(800);
    expect(s2.snapshot.status).toBe('saved');
  });

  it('round-trips binary files as bytes', () => {
    const bytes = new Uint8Array([0, 255, 1, 2, 0x89, 0x50]);
    const file = fileOfBytes(bytes);
    expect(file.base64).toBe(true);
    expect([...bytesOfFile(file)]).toEqual([...bytes]);
    expect(fileOfBytes(new TextEncoder().encode('héllo'))).toEqual({ content: 'héllo' });
  });
});

describe('ServerWorkspaceStore', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  async function store() {
    const server = new FakeServer();
    const api = new ApiClient(server.fetch);
    await api.me();
    const ws = new ServerWorkspaceStore(api, new Memory(), 800, [1000]);
    return { server, api, ws };
  }

  it('makes a first project on the server, and autosaves typing (drafts become saved)', async () => {
    const { server, ws } = await store();
    await ws.load();
    const p = ws.get().project!;
    expect(server.projects.has(p.id)).toBe(true);
    expect(Object.keys(p.files)).toEqual(['main.py']);
    expect(server.text(p.id, 'main.py')).toBe(p.files['main.py'].content);

    ws.change((q) => editFile(q, 'main.py', 'print("typed")'), false);
    expect(ws.get().project!.drafts['main.py']).toBe('print("typed")');
    expect(ws.get().saveState).toBe('saving');
    await vi.advanceTimersByTimeAsync(800);
    expect(server.text(p.id, 'main.py')).toBe('print("typed")');
    expect(ws.get().saveState).toBe('saved');
    expect(ws.get().project!.drafts).toEqual({});
    expect(ws.get().project!.files['main.py'].content).toBe('print("typed")');
  });

  it('reopens a project from the server, and saves before a run', async () => {
    const { server, api, ws } = await store();
    await ws.load();
    const id = ws.get().project!.id;
    ws.change((q) => createFile(q, 'lib/util.py', 'X = 1'));
    ws.change((q) => editFile(q, 'main.py', 'from lib.util import X\nprint(X)'), false);
    expect(await ws.saveForRun()).toBe(id);
    expect(server.text(id, 'lib/util.py')).toBe('X = 1');

    const again = new ServerWorkspaceStore(api, new Memory());
    await again.load();
    const p = again.get().project!;
    expect(p.id).toBe(id);
    expect(p.files['main.py'].content).toBe('from lib.util import X\nprint(X)');
    expect(p.files['lib/util.py'].content).toBe('X = 1');
  });

  it('moves a file on the server when it is renamed in the tree', async () => {
    const { server, ws } = await store();
    await ws.load();
    const id = ws.get().project!.id;
    ws.change((q) => movePath(q, 'main.py', 'app/main.py'));
    await ws.flush();
    expect([...server.projects.get(id)!.files.keys()]).toEqual(['app/main.py']);
  });

  it('shows a conflict, and "reload from server" puts the other tab\'s text in the editor', async () => {
    const { server, ws } = await store();
    await ws.load();
    const id = ws.get().project!.id;
    server.writeBehind(id, 'main.py', 'print("from the other tab")');
    ws.change((q) => editFile(q, 'main.py', 'print("stale tab")'), false);
    await vi.advanceTimersByTimeAsync(800);
    expect(ws.get().saveState).toBe('conflict');
    expect(ws.get().conflict).toMatchObject({ path: 'main.py', currentVersion: 2 });
    await ws.resolveConflict('reload');
    const p = ws.get().project!;
    expect(p.drafts).toEqual({});
    expect(p.files['main.py'].content).toBe('print("from the other tab")');
    expect(ws.get().saveState).toBe('saved');
    expect(server.text(id, 'main.py')).toBe('print("from the other tab")');
  });

  it('keeps edits that could not be saved across a reload, and saves them when the server answers', async () => {
    const { server, api } = await store();
    const kv = new Memory();
    const first = new ServerWorkspaceStore(api, kv, 800, [1000]);
    await first.load();
    const id = first.get().project!.id;
    server.offline = true;
    first.change((q) => editFile(q, 'main.py', 'print("typed offline")'), false);
    await vi.advanceTimersByTimeAsync(800);
    expect(first.get().saveState).toBe('offline');
    await first.flush();
    first.close(); // the tab is closed

    server.offline = false;
    const second = new ServerWorkspaceStore(api, kv, 800, [1000]);
    await second.load();
    const p = second.get().project!;
    expect(p.id).toBe(id);
    expect(p.drafts['main.py']).toBe('print("typed offline")');
    await vi.advanceTimersByTimeAsync(800);
    expect(server.text(id, 'main.py')).toBe('print("typed offline")');
    expect(second.get().project!.drafts).toEqual({});
    // Saved: nothing is kept any more.
    const third = new ServerWorkspaceStore(api, kv);
    await third.load();
    expect(third.get().project!.drafts).toEqual({});
  });

  it('an unsaved edit kept from an older version meets a conflict, not a silent overwrite', async () => {
    const { server, api } = await store();
    const kv = new Memory();
    const first = new ServerWorkspaceStore(api, kv, 800, [1000]);
    await first.load();
    const id = first.get().project!.id;
    server.offline = true;
    first.change((q) => editFile(q, 'main.py', 'print("old tab")'), false);
    await first.flush();
    first.close();
    server.offline = false;
    server.writeBehind(id, 'main.py', 'print("newer, from elsewhere")');

    const second = new ServerWorkspaceStore(api, kv, 800, [1000]);
    await second.load();
    await vi.advanceTimersByTimeAsync(800);
    expect(second.get().saveState).toBe('conflict');
    expect(server.text(id, 'main.py')).toBe('print("newer, from elsewhere")');
    await second.resolveConflict('keep');
    expect(server.text(id, 'main.py')).toBe('print("old tab")');
  });

  it('creates, duplicates, renames and deletes projects, and imports browser projects', async () => {
    const { server, ws } = await store();
    await ws.load();
    const first = ws.get().project!.id;
    await ws.create('Second', 'python', 'hello');
    const second = ws.get().project!.id;
    expect(ws.get().projects.map((p) => p.id).sort()).toEqual([first, second].sort());
    await ws.duplicate(second, 'Second copy');
    const copy = ws.get().project!;
    expect(copy.name).toBe('Second copy');
    expect(copy.files).toEqual(Object.fromEntries([...server.projects.get(second)!.files.keys()].map((k) => [k, { content: server.text(second, k) }])));
    await ws.rename(first, 'First!');
    expect(server.projects.get(first)!.name).toBe('First!');
    await ws.remove(copy.id);
    expect(server.projects.has(copy.id)).toBe(false);
    expect(ws.get().project!.id).not.toBe(copy.id);

    const local = { ...copy, id: 'local-1', name: 'From the browser', drafts: { 'main.py': 'print("draft")' } };
    expect(await ws.importProjects([local])).toBe(1);
    const imported = [...server.projects.values()].find((p) => p.name === 'From the browser')!;
    expect(new TextDecoder().decode(imported.files.get('main.py')!.bytes)).toBe('print("draft")');
    // A name the account already has gets a suffix rather than failing.
    expect(await ws.importProjects([local, local])).toBe(2);
    const names = [...server.projects.values()].map((p) => p.name).filter((n) => n.startsWith('From the browser'));
    expect(names.sort()).toEqual(['From the browser', 'From the browser (from this browser 2)', 'From the browser (from this browser)']);
    // Making a project does not rename silently.
    await expect(ws.create('First!', 'python', 'hello')).rejects.toMatchObject({ code: 'name_taken' });
  });

  it('desiredOf sends drafts, and binary files as they are', () => {
    const d = desiredOf({
      id: 'x',
      name: 'N',
      files: { 'a.txt': { content: 'old' }, 'b.bin': { content: 'AAE=', base64: true } },
      folders: [],
      entry: 'a.txt',
      language: 'python',
      drafts: { 'a.txt': 'new' },
      openTabs: [],
      activeTab: null,
      updatedAt: 0,
    });
    expect(d).toEqual({ files: { 'a.txt': { content: 'new' }, 'b.bin': { content: 'AAE=', base64: true } }, name: 'N', language: 'python', entry: 'a.txt' });
  });
});

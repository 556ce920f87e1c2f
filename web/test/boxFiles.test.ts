import { IDBFactory } from 'fake-indexeddb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../src/api/client';
import type { FileChange } from '../src/protocol/types';
import { BoxFilesStore, DELETE_BATCH_PATHS, MAX_TOO_LARGE, WRITE_BATCH_CHARS, WRITE_BATCH_FILES, applyBoxChanges, filesToWrite, leftOutText, mergeConflicts, pathsToDelete, takeTheirs } from '../src/store/boxFiles';
import { createFolder, deletePath, deletedBy, editFile, makeProject, movePath, restoreDeleted, saveFile, type Project } from '../src/store/project';
import { runRequestOf } from '../src/files';
import { ServerWorkspaceStore } from '../src/store/remote';
import { WorkspaceStore } from '../src/store/workspace';
import { ProjectDb } from '../src/store/db';
import { FakeServer } from './fakeserver';
import { Memory } from './memory';
import { connectedClient } from './opensocket';

const write = (path: string, data: string, encoding: 'utf8' | 'base64' = 'utf8'): FileChange => ({ path, op: 'write', data, encoding, size: data.length });
const del = (path: string): FileChange => ({ path, op: 'delete' });
const noneLeftOut = { ignored: 0, unlisted: 0, truncated: false, pending: 0 };

function project(): Project {
  return makeProject('P', { 'main.py': 'print(1)\n', 'notes.txt': 'old' }, 'main.py');
}

describe('applyBoxChanges', () => {
  it('brings new and changed files in, binary as base64, without opening tabs, and takes deletions', () => {
    const before = project();
    const { project: after, conflicts } = applyBoxChanges(
      before,
      [write('out/a.txt', 'made'), write('img.bin', 'AP+A', 'base64'), write('notes.txt', 'new'), del('main.py')],
      {},
    );
    expect(conflicts).toEqual([]);
    expect(after.files['out/a.txt']).toEqual({ content: 'made' });
    expect(after.files['img.bin']).toEqual({ content: 'AP+A', base64: true });
    expect(after.files['notes.txt']).toEqual({ content: 'new' });
    expect('main.py' in after.files).toBe(false);
    expect(after.openTabs).not.toContain('out/a.txt');
    expect(after.entry).toBeNull();
  });

  it('returns the very same project when nothing changes (no save, no render)', () => {
    const before = project();
    expect(applyBoxChanges(before, [write('notes.txt', 'old'), del('gone.txt')], {}).project).toBe(before);
  });

  it('never overwrites unsaved edits: a change or a deletion under them is a conflict', () => {
    const before = editFile(project(), 'main.py', 'print("mine")\n');
    const changed = applyBoxChanges(before, [write('main.py', 'print("theirs")\n')], {});
    expect(changed.project).toBe(before);
    expect(changed.conflicts).toEqual([{ path: 'main.py', theirs: { content: 'print("theirs")\n' } }]);
    const deleted = applyBoxChanges(before, [del('main.py')], {});
    expect(deleted.project.files['main.py']).toBeDefined();
    expect(deleted.conflicts).toEqual([{ path: 'main.py', theirs: null }]);
    // The box wrote exactly the edits: nothing is unsaved any more.
    const same = applyBoxChanges(before, [write('main.py', 'print("mine")\n')], {});
    expect(same.conflicts).toEqual([]);
    expect(same.project.drafts).toEqual({});
    expect(same.project.files['main.py'].content).toBe('print("mine")\n');
  });

  it('lists files too large to bring in, forgets them when they go, and stays bounded', () => {
    const big: FileChange = { path: 'huge.bin', op: 'write', size: 1 << 30, omitted: 'too_large' };
    const { tooLarge } = applyBoxChanges(project(), [big], {});
    expect(tooLarge).toEqual({ 'huge.bin': 1 << 30 });
    expect(applyBoxChanges(project(), [del('huge.bin')], tooLarge).tooLarge).toEqual({});
    const flood = Array.from({ length: MAX_TOO_LARGE + 50 }, (_, n) => ({ ...big, path: `big-${n}` }));
    expect(Object.keys(applyBoxChanges(project(), flood, {}).tooLarge)).toHaveLength(MAX_TOO_LARGE);
  });

  it('leaves out a file whose path a file or folder of the project already takes', () => {
    const before = createFolder(project(), 'data');
    const { project: after } = applyBoxChanges(before, [write('notes.txt/inner', 'x'), write('data', 'x')], {});
    expect(after).toBe(before);
  });
});

describe('conflicts and the tree note', () => {
  it('takes theirs (or the deletion), keeps one conflict per path, and says what was left out', () => {
    const before = editFile(project(), 'main.py', 'mine');
    const taken = takeTheirs(before, { path: 'main.py', theirs: { content: 'theirs' } });
    expect(taken.files['main.py'].content).toBe('theirs');
    expect(taken.drafts).toEqual({});
    expect('main.py' in takeTheirs(before, { path: 'main.py', theirs: null }).files).toBe(false);
    const merged = mergeConflicts([{ path: 'a', theirs: null }], [{ path: 'a', theirs: { content: 'x' } }, { path: 'b', theirs: null }]);
    expect(merged).toEqual([{ path: 'a', theirs: { content: 'x' } }, { path: 'b', theirs: null }]);
    expect(leftOutText(null, {})).toBeNull();
    expect(leftOutText({ ignored: 2, unlisted: 1, truncated: true, pending: 3 }, { 'x.bin': 5 })).toBe(
      'In the box, not here: 1 too large to open · 2 excluded by .bytesboxignore · 1 links or special files · more files than are watched · 3 changes still coming',
    );
  });
});

const hello = { type: 'hello', session: 's', resume: 'r', protocol: 1, default_limits: {}, max_limits: {}, terminals: [] };

describe('BoxFilesStore', () => {
  it('asks every session to watch, applies frames to a guest project in the browser, and settles conflicts', async () => {
    const local = new WorkspaceStore(new ProjectDb(new IDBFactory()), new Memory(), 0);
    await local.load();
    const { client, sockets } = connectedClient(hello);
    const store = new BoxFilesStore(client, local);
    expect(sockets[0].sent).toContainEqual({ type: 'files_watch' });
    local.change((p) => editFile(p, 'main.py', 'mine'));
    const path = 'main.py';
    sockets[0].receive({ type: 'files_changed', changes: [write('made.txt', 'hi'), write(path, 'theirs')], left_out: { ...noneLeftOut, ignored: 1 } });
    expect(local.get().project!.files['made.txt']).toEqual({ content: 'hi' });
    expect(store.get().conflicts.map((c) => c.path)).toEqual([path]);
    expect(store.get().leftOut?.ignored).toBe(1);
    store.keepMine(path);
    expect(store.get().conflicts).toEqual([]);
    expect(local.get().project!.drafts[path]).toBe('mine');
    sockets[0].receive({ type: 'files_changed', changes: [write(path, 'theirs again')], left_out: noneLeftOut });
    store.takeTheirs(path);
    expect(local.get().project!.files[path].content).toBe('theirs again');
    expect(local.get().project!.drafts).toEqual({});
    await local.flush();
    expect(local.get().saveState).toBe('saved');
    // A new session (the old one lost) is asked again.
    sockets[0].close();
    await vi.waitFor(() => expect(sockets.length).toBe(2));
    sockets[1].receive(hello);
    expect(sockets[1].sent).toContainEqual({ type: 'files_watch' });
  });
});

describe('BoxFilesStore with a signed-in user', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('saves what the box made to the server project, as an edit in the editor would be', async () => {
    const server = new FakeServer();
    const api = new ApiClient(server.fetch);
    await api.me();
    const remote = new ServerWorkspaceStore(api, new Memory(), 800, [1000]);
    await remote.load();
    const id = remote.get().project!.id;
    const { client, sockets } = connectedClient(hello);
    new BoxFilesStore(client, remote);
    sockets[0].receive({ type: 'files_changed', changes: [write('out/result.txt', '42'), write('blob.bin', 'AP+A', 'base64')], left_out: noneLeftOut });
    await remote.flush();
    expect(server.text(id, 'out/result.txt')).toBe('42');
    expect([...server.projects.get(id)!.files.get('blob.bin')!.bytes]).toEqual([0x00, 0xff, 0x80]);
    sockets[0].receive({ type: 'files_changed', changes: [del('out/result.txt')], left_out: noneLeftOut });
    await remote.flush();
    expect(server.projects.get(id)!.files.has('out/result.txt')).toBe(false);
    expect(remote.get().saveState).toBe('saved');
  });
});

/** A guest's workspace and a store on a connected client that writes 10 ms after a change. */
async function guestStore() {
  const local = new WorkspaceStore(new ProjectDb(new IDBFactory()), new Memory(), 0);
  await local.load();
  // The browser's database keeps real timers; the writes' delay is faked.
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  const { client, sockets } = connectedClient(hello);
  const store = new BoxFilesStore(client, local, 10);
  return { local, client, sockets, store };
}

describe('files saved in the editor go to the box', () => {
  afterEach(() => vi.useRealTimers());

  it('sends saved files the box does not have, in bounded batches, and never what came from the box', async () => {
    const { local, sockets } = await guestStore();
    const writes = () => sockets[0].sent.filter((m) => (m as { type: string }).type === 'files_write') as { files: { path: string; content: string; encoding?: string }[] }[];
    // The project as opened is what its first run writes: nothing to send.
    local.change((p) => p);
    await vi.advanceTimersByTimeAsync(20);
    expect(writes()).toEqual([]);
    // Unsaved edits stay here; saving sends the file.
    local.change((p) => editFile(p, 'main.py', 'print("saved")'));
    await vi.advanceTimersByTimeAsync(20);
    expect(writes()).toEqual([]);
    local.change((p) => saveFile(p, 'main.py'));
    local.change((p) => ({ ...p, files: { ...p.files, 'img.bin': { content: 'AP8=', base64: true } } }));
    await vi.advanceTimersByTimeAsync(20);
    expect(writes().map((w) => w.files)).toEqual([[{ path: 'img.bin', content: 'AP8=', encoding: 'base64' }, { path: 'main.py', content: 'print("saved")' }]]);
    // A file that came from the box is not sent back.
    sockets[0].receive({ type: 'files_changed', changes: [write('made.txt', 'from the box')], left_out: noneLeftOut });
    await vi.advanceTimersByTimeAsync(20);
    expect(writes()).toHaveLength(1);
  });

  it('sends nothing back when the user takes the box\'s version: the box may have changed the file again since', async () => {
    const { local, sockets, store } = await guestStore();
    const sentFrames = () => sockets[0].sent.filter((m) => ['files_write', 'files_delete'].includes((m as { type: string }).type));
    local.change((p) => p);
    await vi.advanceTimersByTimeAsync(20);
    local.change((p) => ({ ...p, files: { ...p.files, 'notes.txt': { content: 'old' } } }));
    await vi.advanceTimersByTimeAsync(20);
    const before = sentFrames().length;
    // Unsaved edits to both; the box rewrites one and deletes the other.
    local.change((p) => editFile(editFile(p, 'main.py', 'mine'), 'notes.txt', 'mine too'));
    sockets[0].receive({ type: 'files_changed', changes: [write('main.py', 'theirs'), del('notes.txt')], left_out: noneLeftOut });
    expect(store.get().conflicts.map((c) => c.path).sort()).toEqual(['main.py', 'notes.txt']);
    store.takeTheirs('main.py');
    store.takeTheirs('notes.txt');
    await vi.advanceTimersByTimeAsync(20);
    expect(local.get().project!.files['main.py'].content).toBe('theirs');
    expect('notes.txt' in local.get().project!.files).toBe(false);
    expect(sentFrames().slice(before)).toEqual([]);
  });

  it('keeps batches bounded', () => {
    const many = makeProject('P', Object.fromEntries(Array.from({ length: WRITE_BATCH_FILES + 5 }, (_, n) => [`f${n}`, 'x'])));
    expect(filesToWrite(many, new Map())).toHaveLength(WRITE_BATCH_FILES);
    const big = makeProject('P', { a: 'x'.repeat(WRITE_BATCH_CHARS), b: 'y' });
    expect(filesToWrite(big, new Map()).map((f) => f.path)).toEqual(['a']);
  });
});

describe('files deleted or moved in the tree leave the box', () => {
  afterEach(() => vi.useRealTimers());

  const sentOf = (p: Project) => new Map(Object.entries(p.files));

  it('names a deleted file, or the outermost folder the project no longer has', () => {
    const before = makeProject('P', { 'main.py': 'x', 'lib/a.py': 'a', 'lib/deep/b.py': 'b', 'docs/x.md': 'x', 'docs/y.md': 'y' });
    const sent = sentOf(before);
    expect(pathsToDelete(before, sent)).toEqual([]);
    expect(pathsToDelete(deletePath(before, 'main.py'), sent)).toEqual(['main.py']);
    expect(pathsToDelete(deletePath(before, 'lib'), sent)).toEqual(['lib']);
    expect(pathsToDelete(deletePath(before, 'lib/deep'), sent)).toEqual(['lib/deep']);
    // A moved folder: the old one goes whole.
    expect(pathsToDelete(movePath(before, 'lib', 'src/lib'), sent)).toEqual(['lib']);
    // A file of a folder that stays: the file alone.
    expect(pathsToDelete(deletePath(before, 'docs/x.md'), sent)).toEqual(['docs/x.md']);
    // An emptied folder the project keeps (explicitly): the files alone.
    const kept = createFolder(deletePath(deletePath(before, 'docs/x.md'), 'docs/y.md'), 'docs');
    expect(pathsToDelete(kept, sent)).toEqual(['docs/x.md', 'docs/y.md']);
    const many = makeProject('P', Object.fromEntries(Array.from({ length: DELETE_BATCH_PATHS + 5 }, (_, n) => [`f${n}`, 'x'])));
    expect(pathsToDelete(makeProject('P', {}), sentOf(many))).toHaveLength(DELETE_BATCH_PATHS);
  });

  async function setUp() {
    const { local, sockets, store } = await guestStore();
    const frames = () => sockets[0].sent.filter((m) => ['files_write', 'files_delete'].includes((m as { type: string }).type)) as { type: string; paths?: string[]; files?: { path: string; content: string }[] }[];
    // The project as opened is what its first run writes.
    local.change((p) => ({ ...p, files: { ...p.files, 'lib/a.py': { content: 'a' }, 'lib/b.py': { content: 'b' } } }));
    await vi.advanceTimersByTimeAsync(20);
    store.sentWithRun(runRequestOf(local.get().project!, []));
    return { local, sockets, store, frames };
  }

  it('deletes at once, moves as a deletion before the write, and writes back what an undo restores', async () => {
    const { local, frames } = await setUp();
    const main = Object.keys(local.get().project!.files).find((p) => !p.startsWith('lib/'))!;
    const deleted = deletedBy(local.get().project!, main);
    local.change((p) => deletePath(p, main));
    await vi.advanceTimersByTimeAsync(20);
    expect(frames()).toEqual([{ type: 'files_delete', id: 'd1', paths: [main] }]);
    // Undo of the delete: the file is written again.
    local.change((p) => restoreDeleted(p, deleted));
    await vi.advanceTimersByTimeAsync(20);
    expect(frames().slice(1).map((f) => [f.type, f.files?.map((x) => x.path)])).toEqual([['files_write', [main]]]);
    // A folder renamed: the old folder goes first, then its files come at their new paths.
    local.change((p) => movePath(p, 'lib', 'src'));
    await vi.advanceTimersByTimeAsync(20);
    expect(frames().slice(2).map((f) => f.paths ?? f.files!.map((x) => x.path))).toEqual([['lib'], ['src/a.py', 'src/b.py']]);
    expect(frames().slice(2).map((f) => f.type)).toEqual(['files_delete', 'files_write']);
    // Nothing more: each went once.
    local.change((p) => p);
    await vi.advanceTimersByTimeAsync(20);
    expect(frames()).toHaveLength(4);
  });

  it('sends no deletion for what the box deleted itself, nor for a file of the box the project could not take', async () => {
    const { local, sockets, frames } = await setUp();
    sockets[0].receive({ type: 'files_changed', changes: [del('lib/a.py')], left_out: noneLeftOut });
    expect('lib/a.py' in local.get().project!.files).toBe(false);
    // `lib` is a folder here: the box's file of that name stays out, and stays in the box.
    sockets[0].receive({ type: 'files_changed', changes: [write('lib', 'a file')], left_out: noneLeftOut });
    expect(local.get().project!.files.lib).toBeUndefined();
    await vi.advanceTimersByTimeAsync(20);
    expect(frames()).toEqual([]);
  });

  it('sends the deletions before a git command that carries the unsent files', async () => {
    const { local, sockets, store, frames } = await setUp();
    local.change((p) => saveFile(editFile(deletePath(p, 'lib/b.py'), 'lib/a.py', 'a2'), 'lib/a.py'));
    const carried = store.takeUnsent(false);
    expect(carried.map((f) => f.path)).toEqual(['lib/a.py']);
    expect(frames()).toEqual([{ type: 'files_delete', id: 'd1', paths: ['lib/b.py'] }]);
    expect(sockets[0].sent.at(-1)).toMatchObject({ type: 'files_delete' });
    await vi.advanceTimersByTimeAsync(20);
    expect(frames()).toHaveLength(1);
  });
});

describe('a run marks its files as sent', () => {
  afterEach(() => vi.useRealTimers());

  it("sends nothing after Run saved: the run wrote the files, the save's write would repeat them", async () => {
    const { local, client, sockets, store } = await guestStore();
    const writes = () => sockets[0].sent.filter((m) => (m as { type: string }).type === 'files_write');
    local.change((p) => p);
    await vi.advanceTimersByTimeAsync(20);
    const path = Object.keys(local.get().project!.files)[0];
    local.change((p) => editFile(p, path, 'edited before Run'));
    // Run: save, then the run carries the files; the save's write comes later.
    local.change((p) => saveFile(p, path));
    const request = runRequestOf(local.get().project!, []);
    client.send({ type: 'run', id: 'r1', ...request });
    store.sentWithRun(request);
    await vi.advanceTimersByTimeAsync(20);
    expect(writes()).toEqual([]);
    // A later save is written, as the run left the rest.
    local.change((p) => saveFile(editFile(p, path, 'after'), path));
    await vi.advanceTimersByTimeAsync(20);
    expect(writes()).toEqual([{ type: 'files_write', id: 'w1', files: [{ path, content: 'after' }] }]);
    // A run of a saved project writes the saved files.
    local.change((p) => saveFile(editFile(p, path, 'saved for the run'), path));
    store.sentWithRun({ project: local.get().project!.id });
    await vi.advanceTimersByTimeAsync(20);
    expect(writes()).toHaveLength(1);
  });
});

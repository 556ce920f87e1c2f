import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it, vi } from 'vitest';
import { BoxFilesStore } from '../src/store/boxFiles';
import { GitStore } from '../src/store/git';
import { ProjectDb } from '../src/store/db';
import { editFile, saveFile } from '../src/store/project';
import { WorkspaceStore } from '../src/store/workspace';
import { Memory } from './memory';
import { connectedClient } from './opensocket';
import { parseStatus } from '../src/git/status';
import { branchesOf, graphRows, parseLog, type Commit } from '../src/git/log';

describe('git status (porcelain v2, -z)', () => {
  it('reads the branch, staged, changed, renamed, untracked and conflicted files, names as they are', () => {
    const output = [
      '# branch.oid 1111111111111111111111111111111111111111',
      '# branch.head feature/x',
      '1 M. N... 100644 100644 100644 aaaa bbbb staged only.txt',
      '1 .M N... 100644 100644 100644 aaaa aaaa changed.txt',
      '1 MM N... 100644 100644 100644 aaaa bbbb both.txt',
      '1 A. N... 000000 100644 100644 0000 bbbb ünï code.txt',
      '2 R. N... 100644 100644 100644 aaaa aaaa R100 new name.txt',
      'old name.txt',
      'u UU N... 100644 100644 100644 100644 aaaa bbbb cccc conflict.txt',
      '? new dir/untracked.txt',
      '',
    ].join('\0');
    const status = parseStatus(output);
    expect(status.branch).toBe('feature/x');
    expect(status.head).toBe('1111111111111111111111111111111111111111');
    expect(status.staged.map((e) => [e.path, e.index])).toEqual([
      ['staged only.txt', 'M'],
      ['both.txt', 'M'],
      ['ünï code.txt', 'A'],
      ['new name.txt', 'R'],
    ]);
    expect(status.staged[3].from).toBe('old name.txt');
    expect(status.changes.map((e) => [e.path, e.worktree])).toEqual([
      ['changed.txt', 'M'],
      ['both.txt', 'M'],
    ]);
    expect(status.untracked.map((e) => e.path)).toEqual(['new dir/untracked.txt']);
    expect(status.conflicted.map((e) => e.path)).toEqual(['conflict.txt']);
  });

  it('knows a repository before its first commit and a detached HEAD', () => {
    expect(parseStatus('# branch.oid (initial)\0# branch.head main\0').head).toBeNull();
    expect(parseStatus('# branch.oid abc\0# branch.head (detached)\0').branch).toBeNull();
  });
});

const commit = (hash: string, parents: string[], subject = hash): Commit => ({ hash, parents, author: 'a', time: 0, refs: [], subject });

describe('git log', () => {
  it('reads records with any subject', () => {
    const h = (c: string) => c.repeat(40);
    const output =
      `${h('a')}\x1f${h('b')} ${h('c')}\x1fAda L\x1f1700000000\x1fHEAD -> main, tag: v1, feature\x1fMerge: a, b\x1e\n` +
      `${h('b')}\x1f\x1fAda\x1f1690000000\x1f\x1ffirst\x1e\n`;
    const log = parseLog(output);
    expect(log).toHaveLength(2);
    expect(log[0]).toMatchObject({ hash: h('a'), parents: [h('b'), h('c')], author: 'Ada L', time: 1700000000, subject: 'Merge: a, b' });
    expect(branchesOf(log[0].refs)).toEqual(['main', 'feature']);
    expect(log[1].parents).toEqual([]);
  });

  it('draws a straight line, a branch and its merge in lanes', () => {
    // m merges f into b; f and b both come from r.
    const rows = graphRows([commit('m', ['b', 'f']), commit('f', ['r']), commit('b', ['r']), commit('r', [])]);
    expect(rows.map((r) => r.lane)).toEqual([0, 1, 0, 0]);
    expect(rows[0].edges).toEqual([
      { from: 0, to: 0 },
      { from: 0, to: 1 },
    ]);
    expect(rows[1].through).toEqual([0]);
    // Both lanes wait for r; at r they join.
    expect(rows[2].after).toBe(2);
    expect(rows[3].after).toBe(0);
  });

  it('keeps two branch heads apart', () => {
    const rows = graphRows([commit('x', ['r']), commit('y', ['r']), commit('r', [])]);
    expect(rows.map((r) => r.lane)).toEqual([0, 1, 0]);
  });
});

describe('GitStore', () => {
  const hello = { type: 'hello', session: 's1', resume: 'r', protocol: 1, default_limits: {}, max_limits: {}, terminals: [] };
  const result = (id: string, extra: object = {}) => ({
    type: 'git_result',
    id,
    status: 'ok',
    exit_code: 0,
    signal: null,
    stdout: '',
    stdout_encoding: 'utf8',
    stderr: '',
    stderr_encoding: 'utf8',
    fresh_box: false,
    wall_ms: 1,
    ...extra,
  });

  async function setUp() {
    const local = new WorkspaceStore(new ProjectDb(new IDBFactory()), new Memory(), 0);
    await local.load();
    const { client, sockets } = connectedClient(hello);
    const boxFiles = new BoxFilesStore(client, local);
    const git = new GitStore(client, local, boxFiles);
    const gitFrames = () => sockets[0].sent.filter((m) => m.type === 'git') as { id: string; args: string[]; files?: { path: string }[] }[];
    return { local, sockets, git, gitFrames };
  }

  it('sends every file with the first command of a session, then only what the box lacks', async () => {
    const { local, sockets, git, gitFrames } = await setUp();
    const first = git.check(['status']);
    const sent = gitFrames()[0];
    expect(sent.files?.map((f) => f.path).sort()).toEqual(Object.keys(local.get().project!.files).sort());
    sockets[0].receive(result(sent.id, { stdout: 'clean' }));
    expect(await first).toBe('clean');
    const path = Object.keys(local.get().project!.files)[0];
    local.change((p) => saveFile(editFile(p, path, 'changed'), path));
    const second = git.check(['status']);
    expect(gitFrames()[1].files?.map((f) => f.path)).toEqual([path]);
    sockets[0].receive(result(gitFrames()[1].id));
    await second;
    const third = git.check(['status']);
    expect(gitFrames()[2].files).toBeUndefined();
    sockets[0].receive(result(gitFrames()[2].id, { status: 'nonzero', exit_code: 128, stderr: 'fatal: not a git repository' }));
    await expect(third).rejects.toThrow('not a git repository');
  });

  it('sends everything again and repeats the command when the box was made for it', async () => {
    const { local, sockets, git, gitFrames } = await setUp();
    const warm = git.check(['status']);
    sockets[0].receive(result(gitFrames()[0].id));
    await warm;
    const again = git.check(['log']);
    expect(gitFrames()[1].files).toBeUndefined();
    sockets[0].receive(result(gitFrames()[1].id, { fresh_box: true }));
    await vi.waitFor(() => expect(gitFrames()).toHaveLength(3));
    expect(gitFrames()[2].args).toEqual(['log']);
    expect(gitFrames()[2].files?.length).toBe(Object.keys(local.get().project!.files).length);
    sockets[0].receive(result(gitFrames()[2].id, { stdout: 'history' }));
    expect(await again).toBe('history');
  });

  it('a refusal is an error with the server’s words; the panel knows a workspace with no repository', async () => {
    const { sockets, git, gitFrames } = await setUp();
    const refused = git.check(['status']);
    sockets[0].receive({ type: 'git_error', id: gitFrames()[0].id, code: 'too_many_git_commands', message: '8 git commands are waiting' });
    await expect(refused).rejects.toThrow('8 git commands are waiting');
    const refresh = git.refresh();
    sockets[0].receive(result(gitFrames()[1].id, { status: 'nonzero', exit_code: 128, stderr: 'fatal: not a git repository (or any of the parent directories): .git\n' }));
    await refresh;
    expect(git.get().repo).toBe('none');
  });

  it('pushes to the upstream, or to origin under the branch’s name when it has none; pulls only fast-forward', async () => {
    const { sockets, git, gitFrames } = await setUp();
    const answer = async (stdout = '') => {
      await vi.waitFor(() => expect(gitFrames().length).toBeGreaterThan(answered));
      sockets[0].receive(result(gitFrames()[answered].id, { stdout }));
      answered += 1;
    };
    let answered = 0;
    // A refresh with no upstream: `git status` says only the head.
    const refreshed = git.refresh();
    await answer('# branch.oid abc\0# branch.head main\0');
    await answer('main\n');
    await answer('');
    await refreshed;
    expect(git.get().status).toMatchObject({ upstream: null, ahead: 0, behind: 0 });
    const pushed = git.push();
    await answer();
    expect(gitFrames()[3].args).toEqual(['push', '--quiet', '--set-upstream', 'origin', 'HEAD']);
    // The refresh after it finds the upstream, one commit behind.
    await answer('# branch.oid abc\0# branch.head main\0# branch.upstream origin/main\0# branch.ab +0 -1\0');
    await answer('main\n');
    await answer('');
    await pushed;
    expect(git.get().status).toMatchObject({ upstream: 'origin/main', ahead: 0, behind: 1 });
    const again = git.push();
    await answer();
    expect(gitFrames()[7].args).toEqual(['push', '--quiet']);
    for (let i = 0; i < 3; i++) await answer('# branch.oid abc\0# branch.head main\0# branch.upstream origin/main\0# branch.ab +0 -1\0');
    await again;
    const pulled = git.pull();
    await answer();
    expect(gitFrames()[11].args).toEqual(['pull', '--ff-only', '--quiet']);
    for (let i = 0; i < 3; i++) await answer('# branch.oid def\0# branch.head main\0# branch.upstream origin/main\0# branch.ab +0 -0\0');
    await pulled;
    expect(git.get().status).toMatchObject({ head: 'def', behind: 0 });
  });

  it('follows saved files, not keystrokes, while the panel shows', async () => {
    const { local, git, gitFrames } = await setUp();
    const stop = git.follow(20);
    const path = Object.keys(local.get().project!.files)[0];
    local.change((p) => editFile(p, path, 'typing'));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(gitFrames()).toHaveLength(0);
    local.change((p) => saveFile(p, path));
    await vi.waitFor(() => expect(gitFrames().map((f) => f.args[0])).toEqual(['status']));
    stop();
    local.change((p) => saveFile(editFile(p, path, 'more'), path));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(gitFrames()).toHaveLength(1);
  });
});

import { describe, expect, it, vi } from 'vitest';
import { PROJECT_RETRY_MS, ProjectGitStore, problemText } from '../src/store/projectGit';
import { Store } from '../src/store/store';
import type { WorkspaceSnapshot } from '../src/store/workspace';
import { connectedClient } from './opensocket';

const hello = { type: 'hello', session: 's1', resume: 'r1', protocol: 1, default_limits: {}, max_limits: {}, terminals: [] };

/** A workspace whose open project the test sets. */
function workspaceWith(id: string | null) {
  const project = (id: string | null) => (id ? ({ id, name: id, files: {}, folders: [], entry: null } as unknown as WorkspaceSnapshot['project']) : null);
  const store = new Store<WorkspaceSnapshot>({ project: project(id), projects: [], saveState: 'saved', error: null, conflict: null } as WorkspaceSnapshot);
  return { store, open: (next: string | null) => store.set({ ...store.get(), project: project(next) }) };
}

describe('ProjectGitStore', () => {
  it('tells each session the open project, again after a new hello and when another project opens', () => {
    vi.useFakeTimers();
    const { client, sockets } = connectedClient(hello);
    const workspace = workspaceWith('p1');
    const saved = new ProjectGitStore(client, workspace.store);
    const told = () => sockets.flatMap((s) => s.sent).filter((m) => m.type === 'project');
    expect(told()).toEqual([{ type: 'project', id: 'p1' }]);
    // Edits of the same project say nothing new.
    workspace.store.set({ ...workspace.store.get() });
    expect(told()).toHaveLength(1);
    sockets[0].receive({ type: 'project_attached', id: 'p1' });
    expect(saved.get().attached).toBe('p1');

    workspace.open('p2');
    expect(told().at(-1)).toEqual({ type: 'project', id: 'p2' });
    expect(saved.get().attached).toBeNull();
    // A late answer about the project before is not taken for this one.
    sockets[0].receive({ type: 'project_attached', id: 'p1' });
    expect(saved.get().attached).toBeNull();

    // The connection drops and a session says hello again: told again.
    sockets[0].close();
    vi.advanceTimersByTime(10);
    sockets[1].receive({ ...hello, session: 's2' });
    expect(sockets[1].sent.filter((m) => m.type === 'project')).toEqual([{ type: 'project', id: 'p2' }]);
    vi.useRealTimers();
  });

  it('keeps a failed save until one succeeds, with the server error id', () => {
    const { client, sockets } = connectedClient(hello);
    const saved = new ProjectGitStore(client, workspaceWith('p1').store);
    const frame = { type: 'project_git', project: 'p1' } as const;
    sockets[0].receive({ ...frame, event: 'saved', bytes: 1200 });
    expect(saved.get()).toMatchObject({ problem: null, savedBytes: 1200 });
    sockets[0].receive({ ...frame, event: 'not_saved', code: 'quota_exceeded', message: 'over your quota' });
    expect(saved.get().problem).toBe('The repository was not saved with the project: over your quota');
    expect(saved.get().savedBytes).toBe(1200);
    // Another project's frame changes nothing here.
    sockets[0].receive({ type: 'project_git', project: 'p9', event: 'saved', bytes: 1 });
    expect(saved.get().problem).not.toBeNull();
    sockets[0].receive({ ...frame, event: 'saved', bytes: 900 });
    expect(saved.get()).toMatchObject({ problem: null, savedBytes: 900 });

    sockets[0].receive({ type: 'project_error', id: 'p1', code: 'session_busy', message: 'close the terminals' });
    expect(saved.get()).toMatchObject({ attached: null, problem: 'close the terminals' });
  });

  it('tells a rate-limited project again a moment later', () => {
    vi.useFakeTimers();
    const { client, sockets } = connectedClient(hello);
    const saved = new ProjectGitStore(client, workspaceWith('p1').store);
    const told = () => sockets[0].sent.filter((m) => m.type === 'project');
    sockets[0].receive({ type: 'project_error', id: 'p1', code: 'rate_limited', message: 'too many requests' });
    expect(saved.get().problem).toBe('too many requests');
    vi.advanceTimersByTime(PROJECT_RETRY_MS);
    expect(told()).toEqual([
      { type: 'project', id: 'p1' },
      { type: 'project', id: 'p1' },
    ]);
    sockets[0].receive({ type: 'project_attached', id: 'p1' });
    expect(saved.get()).toMatchObject({ attached: 'p1', problem: null });
    vi.useRealTimers();
  });

  it('words a server failure with its error id and a restore that failed', () => {
    expect(
      problemText({ type: 'project_git', project: 'p', event: 'not_saved', code: 'accounts_unavailable', message: 'file storage is unavailable', error_id: 'e-1' }),
    ).toBe('The repository was not saved with the project: file storage is unavailable (error e-1)');
    expect(problemText({ type: 'project_git', project: 'p', event: 'not_restored', message: 'x' })).toBe('The saved repository was not brought back: x');
    expect(problemText({ type: 'project_git', project: 'p', event: 'restored', bytes: 3 })).toBeNull();
  });
});

// The Source Control panel's state (docs/git.md): every action is one
// ordinary git command run in the session's box over the `git` frame
// (docs/protocol.md, "Git"), so the panel and a terminal always agree.
// Files the box does not have yet go with each command; files git
// changes (a switch, a discard) come back through the workspace watch,
// like any program's.

import type { BytesboxClient } from '../protocol/client';
import type { GitMessage, ServerMessage, WireFile } from '../protocol/types';
import { decodeData } from '../protocol/types';
import { parseStatus, STATUS_ARGS, type GitStatus } from '../git/status';
import { LOG_ARGS, parseLog, type Commit } from '../git/log';
import { saveAll } from './project';
import type { ProjectGitStore } from './projectGit';
import { Store } from './store';
import type { Workspace } from './workspace';

export type GitResult = Extract<GitMessage, { type: 'git_result' }>;

/** What git printed, as text. */
export function outputText(result: GitResult, stream: 'stdout' | 'stderr'): string {
  const data = result[stream];
  const encoding = result[`${stream}_encoding`];
  return encoding === 'base64' ? new TextDecoder().decode(decodeData(data, encoding)) : data;
}

/** A command that did not end with git's success, as an error with git's words. */
export class GitFailed extends Error {
  constructor(message: string) {
    super(message);
  }
}

export interface GitSnapshot {
  /** `unknown` before the first look, `none` when the workspace is no repository. */
  repo: 'unknown' | 'none' | 'ready';
  status: GitStatus | null;
  branches: string[];
  log: Commit[];
  /** A command is going. */
  busy: boolean;
  /** The last failure, in git's words. */
  error: string | null;
}

const EMPTY: GitSnapshot = { repo: 'unknown', status: null, branches: [], log: [], busy: false, error: null };

let counter = 0;

export class GitStore extends Store<GitSnapshot> {
  private pending = new Map<string, { resolve: (r: GitResult) => void; reject: (e: Error) => void }>();
  /** The session the box's files were last sent to in full. */
  private filesSession: string | null = null;

  constructor(
    private client: BytesboxClient,
    private workspace: Workspace,
    private boxFiles: { takeUnsent(all: boolean): WireFile[] } | null,
    /** A signed-in user's: the repository saved with the project (null for a guest, whose repository lives as long as the box). */
    readonly saved: ProjectGitStore | null = null,
  ) {
    super(EMPTY);
    client.on('message', (message) => this.receive(message));
    // Answers of a session that is gone never come.
    client.on('sessionLost', () => {
      for (const waiting of this.pending.values()) waiting.reject(new GitFailed('the connection to the box was lost; try again'));
      this.pending.clear();
    });
  }

  private receive(message: ServerMessage) {
    if (message.type !== 'git_result' && message.type !== 'git_error') return;
    const waiting = this.pending.get(message.id);
    if (!waiting) return;
    this.pending.delete(message.id);
    if (message.type === 'git_error') waiting.reject(new GitFailed(message.message));
    else waiting.resolve(message);
  }

  /** Sends one command with the files the box lacks; a box made for it gets every file and the command again. */
  async run(args: string[]): Promise<GitResult> {
    const fresh = this.client.session !== this.filesSession;
    this.filesSession = this.client.session;
    let result = await this.send(args, this.boxFiles?.takeUnsent(fresh) ?? []);
    if (result.fresh_box && !fresh) result = await this.send(args, this.boxFiles?.takeUnsent(true) ?? []);
    return result;
  }

  private send(args: string[], files: WireFile[]): Promise<GitResult> {
    const id = `git-${Date.now().toString(36)}-${++counter}`;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.client.send({ type: 'git', id, args, ...(files.length ? { files } : {}) });
    });
  }

  /** Runs a command that must succeed; its stdout. */
  async check(args: string[]): Promise<string> {
    const result = await this.run(args);
    if (result.status !== 'ok') {
      const words = outputText(result, 'stderr').trim() || outputText(result, 'stdout').trim();
      throw new GitFailed(words || `git ${args[0]} ended: ${result.status.replace(/_/g, ' ')}`);
    }
    return outputText(result, 'stdout');
  }

  /**
   * While the panel shows: reads git's status again a moment after the
   * project's saved files change (an edit saved, a file the box changed),
   * not on every keystroke. Returns the way to stop.
   */
  follow(delayMs = 700): () => void {
    let files = this.workspace.get().project?.files;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const stop = this.workspace.subscribe(() => {
      const now = this.workspace.get().project?.files;
      if (now === files) return;
      files = now;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        if (!this.get().busy) void this.refresh();
      }, delayMs);
    });
    return () => {
      stop();
      if (timer) clearTimeout(timer);
    };
  }

  /** Reads status, branches and log again. */
  async refresh() {
    const result = await this.run(STATUS_ARGS).catch((e: unknown) => e as Error);
    if (result instanceof Error) return this.set({ ...this.get(), error: result.message });
    if (result.status !== 'ok') {
      const stderr = outputText(result, 'stderr');
      if (/not a git repository/i.test(stderr)) return this.set({ ...EMPTY, repo: 'none' });
      return this.set({ ...this.get(), error: stderr.trim() || result.status });
    }
    const status = parseStatus(outputText(result, 'stdout'));
    const branches = (await this.check(['branch', '--format=%(refname:short)']).catch(() => ''))
      .split('\n')
      .filter(Boolean);
    // Before the first commit there is no history to show.
    const log = status.head ? parseLog(await this.check(LOG_ARGS).catch(() => '')) : [];
    this.set({ ...this.get(), repo: 'ready', status, branches, log, error: null });
  }

  /** Runs an action (unsaved edits saved first: git reads the box), then refreshes; a failure shows as the error. */
  private async act(action: () => Promise<unknown>) {
    if (this.get().busy) return;
    this.set({ ...this.get(), busy: true, error: null });
    try {
      this.workspace.change(saveAll);
      await action();
      await this.refresh();
    } catch (e) {
      this.set({ ...this.get(), error: e instanceof Error ? e.message : String(e) });
    } finally {
      this.set({ ...this.get(), busy: false });
    }
  }

  init = () => this.act(() => this.check(['init', '-b', 'main']));
  stage = (paths: string[]) => this.act(() => this.check(['add', '--all', '--', ...paths]));
  stageAll = () => this.act(() => this.check(['add', '--all']));
  unstage = (paths: string[]) =>
    this.act(() =>
      this.get().status?.head ? this.check(['restore', '--staged', '--', ...paths]) : this.check(['rm', '--cached', '-r', '--quiet', '--', ...paths]),
    );
  unstageAll = () => this.act(() => (this.get().status?.head ? this.check(['reset', '--quiet']) : this.check(['rm', '--cached', '-r', '--quiet', '.'])));
  /** Puts tracked files back as the index has them, and deletes untracked ones. */
  discard = (tracked: string[], untracked: string[]) =>
    this.act(async () => {
      if (tracked.length) await this.check(['restore', '--worktree', '--', ...tracked]);
      if (untracked.length) await this.check(['clean', '--force', '--', ...untracked]);
    });
  commit = (message: string) => this.act(() => this.check(['commit', '--quiet', '-m', message]));
  createBranch = (name: string) => this.act(() => this.check(['switch', '--create', name]));
  switchTo = (name: string) => this.act(() => this.check(['switch', name]));
  /** Remotes are the repository's own (a terminal adds them); they are reached through the operator's egress, if the plan has it (docs/egress.md). */
  fetch = () => this.act(() => this.check(['fetch', '--quiet', '--all']));
  /** Fast-forward only: a pull never starts a merge the panel cannot finish. */
  pull = () => this.act(() => this.check(['pull', '--ff-only', '--quiet']));
  /** To the branch's upstream; a branch without one goes to `origin` under its own name and gets it as its upstream. */
  push = () =>
    this.act(() => this.check(this.get().status?.upstream ? ['push', '--quiet'] : ['push', '--quiet', '--set-upstream', 'origin', 'HEAD']));

  /** The two sides of a file's diff: staged (HEAD → index) or not (index → working tree). */
  async diffSides(path: string, staged: boolean, untracked: boolean): Promise<{ before: string; after: string }> {
    const show = (spec: string) => this.check(['show', spec]).catch(() => '');
    if (untracked) return { before: '', after: await this.workingText(path) };
    if (staged) return { before: await show(`HEAD:${path}`), after: await show(`:${path}`) };
    return { before: await show(`:${path}`), after: await this.workingText(path) };
  }

  /** The file as the box has it (the project's saved file, which the box was given). */
  private async workingText(path: string): Promise<string> {
    const file = this.workspace.get().project?.files[path];
    if (!file) return '';
    return file.base64 ? '(binary file)' : file.content;
  }
}

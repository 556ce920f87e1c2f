// Notebooks open in this page, each with its kernel in the session's box
// (docs/notebooks.md; the `kernel_*` frames of docs/protocol.md).
//
// A `NotebookSession` holds one notebook (notebook/model.ts) and speaks
// to its kernel: `kernel_start` when the notebook is first shown (the
// kernel's id is this page's, made once per open notebook; with the
// session's spare kernel it is ready in milliseconds), `kernel_execute` per cell run
// with a request id made from the cell's key and a count (so a late
// message of an earlier run of the same cell is never taken for the new
// one's), the kernel's messages routed to the cell by `parent`, busy and
// idle from `status`, `input()` prompts, interrupt, restart, and how the
// kernel ended. The notebook is the file's text: every change is written
// back through `onText` (at once for edits, within a moment for outputs),
// so the project's autosave and versions keep notebooks like any file.

import type { BytesboxClient } from '../protocol/client';
import type { KernelMessage, ServerMessage } from '../protocol/types';
import { Store } from './store';
import {
  minorOf,
  newCell,
  parseNotebook,
  serializeNotebook,
  type Cell,
  type CellType,
  type Notebook,
} from '../notebook/model';
import { applyOutputMessage, updateDisplays } from '../notebook/outputs';

export type KernelPhase = 'off' | 'starting' | 'idle' | 'busy' | 'restarting' | 'exited';

export interface KernelState {
  phase: KernelPhase;
  /** Why the kernel is not there, or what went wrong (in words). */
  message: string | null;
  /** The kernel's `language_info.version` once it answered. */
  version: string | null;
}

export interface InputPrompt {
  prompt: string;
  password: boolean;
}

export interface NotebookState {
  notebook: Notebook | null;
  /** Why the file does not open as a notebook. */
  parseError: string | null;
  kernel: KernelState;
  /** Cells sent to the kernel and not done, by cell key. */
  runs: Record<string, 'queued' | 'running'>;
  /** `input()` prompts waiting for an answer, by cell key. */
  prompts: Record<string, InputPrompt>;
}

/** What a `kernel_exited` status means to the person at the notebook. */
export function describeKernelExit(status: string, exitCode: number | null): string {
  switch (status) {
    case 'memory_limit':
      return 'The kernel ran out of memory and stopped; its variables are gone. Press Restart (or run a cell) to start a new one.';
    case 'culled':
      return 'The kernel was shut down after a long idle time; its variables are gone. Run a cell to start a new one.';
    case 'shutdown':
      return 'The kernel was shut down.';
    case 'message_too_large':
      return 'The kernel sent an output too large to pass (over 16 MiB) and was stopped. Press Restart to start a new one.';
    case 'nonzero':
      return `The kernel exited with code ${exitCode}; its variables are gone. Press Restart to start a new one.`;
    default:
      return `The kernel stopped (${status.replace(/_/g, ' ')}); its variables are gone. Press Restart to start a new one.`;
  }
}

/** Outputs arriving in a burst are written to the file at most this often. */
const OUTPUT_WRITE_MS = 250;

let kernelCounter = 0;

export class NotebookSession extends Store<NotebookState> {
  readonly kernelId = `nb${++kernelCounter}-${Math.random().toString(36).slice(2, 8)}`;
  /** The file's text as last read or written: anything else is a change from outside. */
  private text: string | null = null;
  private requests = new Map<string, { cell: string; replied: boolean; idle: boolean }>();
  private runCount = 0;
  /** Cells whose `clear_output(wait=True)` waits for their next output. */
  private clearPending = new Set<string>();
  /** Cells to send once the kernel is ready. */
  private waiting: string[] = [];
  /** Requests answered by one shell reply (completion), by request id. */
  private replies = new Map<string, (content: Record<string, unknown>) => void>();
  private writeTimer: ReturnType<typeof setTimeout> | null = null;
  private stops: (() => void)[] = [];
  private closed = false;

  constructor(
    private client: BytesboxClient,
    private onText: (text: string) => void,
  ) {
    super({
      notebook: null,
      parseError: null,
      kernel: { phase: 'off', message: null, version: null },
      runs: {},
      prompts: {},
    });
    this.stops.push(
      client.on('message', (message) => this.onMessage(message)),
      client.on('sessionLost', () =>
        this.kernelGone('The connection to the server was lost for too long and the kernel ended with it. Run a cell to start a new one.'),
      ),
    );
  }

  /** Takes the file's text: the first, or a change from outside (a reload, another tab's version). */
  load(text: string) {
    if (text === this.text) return;
    this.text = text;
    try {
      const notebook = parseNotebook(text);
      this.requests.clear();
      this.waiting = [];
      this.set({ ...this.get(), notebook, parseError: null, runs: {}, prompts: {} });
    } catch (e) {
      this.set({ ...this.get(), notebook: null, parseError: (e as Error).message });
    }
  }

  /** A change made here (typing, adding or moving cells): written to the file at once. */
  edit(change: (notebook: Notebook) => Notebook) {
    const notebook = this.get().notebook;
    if (!notebook) return;
    this.setNotebook(change(notebook));
    this.writeNow();
  }

  setSource(key: string, source: string) {
    this.edit((nb) => mapCell(nb, key, (c) => (c.source === source ? c : { ...c, source })));
  }

  addCell(type: CellType, afterKey: string | null): string | null {
    const notebook = this.get().notebook;
    if (!notebook) return null;
    const cell = newCell(type, minorOf(notebook));
    const at = afterKey === null ? notebook.cells.length : notebook.cells.findIndex((c) => c.key === afterKey) + 1;
    const cells = [...notebook.cells.slice(0, at), cell, ...notebook.cells.slice(at)];
    this.edit((nb) => ({ ...nb, cells }));
    return cell.key;
  }

  setType(key: string, type: CellType) {
    this.edit((nb) =>
      mapCell(nb, key, (c) => (c.type === type ? c : { ...c, type, outputs: [], executionCount: null })),
    );
  }

  moveCell(key: string, by: -1 | 1) {
    this.edit((nb) => {
      const from = nb.cells.findIndex((c) => c.key === key);
      const to = from + by;
      if (from < 0 || to < 0 || to >= nb.cells.length) return nb;
      const cells = nb.cells.slice();
      [cells[from], cells[to]] = [cells[to], cells[from]];
      return { ...nb, cells };
    });
  }

  deleteCell(key: string) {
    this.edit((nb) => ({ ...nb, cells: nb.cells.filter((c) => c.key !== key) }));
  }

  clearOutputs(key?: string) {
    this.edit((nb) => ({
      ...nb,
      cells: nb.cells.map((c) =>
        c.type === 'code' && (key === undefined || c.key === key) && (c.outputs.length || c.executionCount !== null)
          ? { ...c, outputs: [], executionCount: null }
          : c,
      ),
    }));
  }

  /** Runs code cells in order (Markdown and raw cells have nothing to run). */
  run(keys: string[]) {
    const notebook = this.get().notebook;
    if (!notebook) return;
    const code = keys.filter((k) => notebook.cells.find((c) => c.key === k)?.type === 'code');
    if (!code.length) return;
    const runs = { ...this.get().runs };
    for (const key of code) runs[key] = 'queued';
    this.set({ ...this.get(), runs });
    const { phase } = this.get().kernel;
    if (phase === 'off' || phase === 'exited') {
      this.waiting.push(...code);
      this.start();
    } else if (phase === 'starting' || phase === 'restarting') {
      this.waiting.push(...code);
    } else {
      for (const key of code) this.execute(key);
    }
  }

  /** Starts the kernel when the notebook is shown, so that it is ready by the first run (not after one that ended). */
  startIfOff() {
    if (this.get().notebook && this.get().kernel.phase === 'off' && !this.closed) this.start();
  }

  runAll() {
    this.run(this.get().notebook?.cells.map((c) => c.key) ?? []);
  }

  /** Runs the cells above `key` (not itself). */
  runAbove(key: string) {
    const cells = this.get().notebook?.cells ?? [];
    const at = cells.findIndex((c) => c.key === key);
    this.run(cells.slice(0, Math.max(at, 0)).map((c) => c.key));
  }

  interrupt() {
    const { phase } = this.get().kernel;
    if (phase === 'idle' || phase === 'busy') this.client.send({ type: 'kernel_interrupt', id: this.kernelId });
  }

  /** A new kernel in place of the old (or a first one when it is gone): variables are gone, counts start at 1. */
  restart() {
    const { phase } = this.get().kernel;
    if (phase === 'starting' || phase === 'restarting') return;
    this.endRuns();
    if (phase === 'off' || phase === 'exited') {
      this.start();
      return;
    }
    this.setKernel({ phase: 'restarting', message: null });
    this.client.send({ type: 'kernel_restart', id: this.kernelId });
  }

  /** Answers the `input()` prompt of a cell. */
  answer(key: string, value: string) {
    const prompt = this.get().prompts[key];
    const request = this.currentRequest(key);
    if (!prompt || !request) return;
    const prompts = { ...this.get().prompts };
    delete prompts[key];
    this.set({ ...this.get(), prompts });
    // The exchange stays in the output, as a terminal would show it.
    this.applyToCell(key, 'stream', { name: 'stdout', text: `${prompt.prompt}${prompt.password ? '········' : value}\n` });
    this.client.send({ type: 'kernel_input', id: this.kernelId, request, value });
  }

  /**
   * The kernel's completions at `cursor` (a UTF-16 offset, as the editor
   * counts) of `code`; null when there is no kernel ready or no answer
   * within `timeoutMs`. Offsets in the answer are UTF-16 too.
   */
  complete(code: string, cursor: number, timeoutMs = 3000): Promise<Completions | null> {
    return this.ask('kernel_complete', code, cursor, timeoutMs, (content) => {
      if (content.status !== 'ok' || !Array.isArray(content.matches)) return null;
      const start = typeof content.cursor_start === 'number' ? content.cursor_start : codePoints(code, cursor);
      const end = typeof content.cursor_end === 'number' ? content.cursor_end : codePoints(code, cursor);
      return {
        matches: content.matches.filter((m): m is string => typeof m === 'string').slice(0, 500),
        from: utf16Offset(code, start),
        to: utf16Offset(code, end),
      };
    });
  }

  /** The kernel's help on the name at `cursor` (UTF-16), as text with ANSI colours; null when it has none. */
  inspect(code: string, cursor: number, timeoutMs = 3000): Promise<string | null> {
    return this.ask('kernel_inspect', code, cursor, timeoutMs, (content) => {
      const data = content.data as Record<string, unknown> | undefined;
      const text = data?.['text/plain'];
      return content.status === 'ok' && content.found === true && typeof text === 'string' ? text.slice(0, 20000) : null;
    });
  }

  /** Sends a request that one shell reply answers; null without a kernel or an answer in time. */
  private ask<T>(
    type: 'kernel_complete' | 'kernel_inspect',
    code: string,
    cursor: number,
    timeoutMs: number,
    read: (content: Record<string, unknown>) => T | null,
  ): Promise<T | null> {
    const { phase } = this.get().kernel;
    if (phase !== 'idle' && phase !== 'busy') return Promise.resolve(null);
    const request = `${type === 'kernel_complete' ? 'complete' : 'inspect'}.${++this.runCount}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(null), timeoutMs);
      const done = (value: T | null) => {
        clearTimeout(timer);
        this.replies.delete(request);
        resolve(value);
      };
      this.replies.set(request, (content) => done(read(content)));
      this.client.send({ type, id: this.kernelId, request, code, cursor_pos: codePoints(code, cursor) });
    });
  }

  /** Ends the kernel (the notebook's tab closed); the session stops listening. */
  close() {
    if (this.closed) return;
    this.closed = true;
    this.writeNow();
    const { phase } = this.get().kernel;
    if (phase !== 'off' && phase !== 'exited') this.client.send({ type: 'kernel_shutdown', id: this.kernelId });
    for (const stop of this.stops) stop();
    this.stops = [];
  }

  /** Writes outputs that wait for their moment. */
  flush() {
    if (this.writeTimer) this.writeNow();
  }

  // ---- the kernel ---------------------------------------------------------

  private start() {
    this.setKernel({ phase: 'starting', message: null, version: null });
    this.client.send({ type: 'kernel_start', id: this.kernelId, language: languageOf(this.get().notebook) });
  }

  private execute(key: string) {
    const cell = this.get().notebook?.cells.find((c) => c.key === key);
    if (!cell) return this.endRun(key);
    const request = `${key}.${++this.runCount}`;
    // An earlier run's late messages are not this run's: they are dropped (and the map stays one entry per cell).
    for (const [old, r] of this.requests) if (r.cell === key) this.requests.delete(old);
    this.requests.set(request, { cell: key, replied: false, idle: false });
    this.clearPending.delete(key);
    // As Jupyter does: a cell's old outputs go when it is run again.
    this.setNotebook(mapCell(this.get().notebook!, key, (c) => ({ ...c, outputs: [], executionCount: null })));
    this.writeSoon();
    this.client.send({ type: 'kernel_execute', id: this.kernelId, request, code: cell.source });
  }

  private currentRequest(key: string): string | null {
    let found: string | null = null;
    for (const [request, r] of this.requests) if (r.cell === key) found = request;
    return found;
  }

  private onMessage(message: ServerMessage) {
    if (!('id' in message) || message.id !== this.kernelId) return;
    if (message.type === 'error') return this.onError(message.code, message.message);
    if (!message.type.startsWith('kernel_')) return;
    const kernel = message as KernelMessage;
    switch (kernel.type) {
      case 'kernel_ready': {
        const version = typeof kernel.language_info.version === 'string' ? kernel.language_info.version : null;
        this.setKernel({ phase: 'idle', message: null, version });
        const waiting = this.waiting;
        this.waiting = [];
        for (const key of waiting) this.execute(key);
        return;
      }
      case 'kernel_exited':
        if (kernel.status === 'shutdown' && this.closed) return;
        return this.kernelGone(describeKernelExit(kernel.status, kernel.exit_code));
      case 'kernel_message':
        return this.onKernelMessage(kernel);
    }
  }

  private onKernelMessage(m: Extract<KernelMessage, { type: 'kernel_message' }>) {
    if (m.msg_type === 'status' && m.channel === 'iopub') {
      const state = m.content.execution_state;
      const { phase } = this.get().kernel;
      if ((state === 'busy' || state === 'idle') && (phase === 'idle' || phase === 'busy') && phase !== state) {
        this.setKernel({ phase: state });
      }
    }
    if (m.msg_type === 'update_display_data') {
      const notebook = this.get().notebook;
      if (!notebook) return;
      const updated = updateDisplays(notebook, m.content);
      if (updated !== notebook) {
        this.setNotebook(updated);
        this.writeSoon();
      }
      return;
    }
    if ((m.msg_type === 'complete_reply' || m.msg_type === 'inspect_reply') && m.parent !== null) {
      return this.replies.get(m.parent)?.(m.content);
    }
    const request = m.parent === null ? undefined : this.requests.get(m.parent);
    if (!request) return;
    const key = request.cell;
    switch (m.msg_type) {
      case 'status':
        if (m.content.execution_state === 'busy') this.setRun(key, 'running');
        if (m.content.execution_state === 'idle') {
          request.idle = true;
          if (request.replied) this.finish(m.parent!);
        }
        return;
      case 'execute_input':
        this.setRun(key, 'running');
        this.setCount(key, m.content.execution_count);
        return;
      case 'execute_reply':
        if (m.content.status !== 'aborted') this.setCount(key, m.content.execution_count);
        request.replied = true;
        if (request.idle || m.content.status === 'aborted') this.finish(m.parent!);
        return;
      case 'input_request':
        this.set({
          ...this.get(),
          prompts: {
            ...this.get().prompts,
            [key]: { prompt: typeof m.content.prompt === 'string' ? m.content.prompt : '', password: m.content.password === true },
          },
        });
        return;
      default:
        this.applyToCell(key, m.msg_type, m.content);
    }
  }

  private applyToCell(key: string, msgType: string, content: Record<string, unknown>) {
    const notebook = this.get().notebook;
    const cell = notebook?.cells.find((c) => c.key === key);
    if (!notebook || !cell || cell.type !== 'code') return;
    const next = applyOutputMessage({ outputs: cell.outputs, clearPending: this.clearPending.has(key) }, msgType, content);
    if (!next) return;
    if (next.clearPending) this.clearPending.add(key);
    else this.clearPending.delete(key);
    if (next.outputs !== cell.outputs) {
      this.setNotebook(mapCell(notebook, key, (c) => ({ ...c, outputs: next.outputs })));
      this.writeSoon();
    }
  }

  private onError(code: string, message: string) {
    const { phase } = this.get().kernel;
    if (phase === 'starting' || phase === 'restarting') return this.kernelGone(`The kernel could not start: ${message}`);
    if (code === 'unknown_kernel' || code === 'kernel_exited') {
      return this.kernelGone(`The kernel is gone (${message}). Run a cell to start a new one.`);
    }
    // A refused request (rate limit, …): the cells still queued will not run.
    const runs: Record<string, 'queued' | 'running'> = {};
    for (const [key, state] of Object.entries(this.get().runs)) if (state === 'running') runs[key] = state;
    this.set({ ...this.get(), runs, kernel: { ...this.get().kernel, message: `${message} (${code})` } });
  }

  private kernelGone(message: string) {
    this.waiting = [];
    this.endRuns();
    this.setKernel({ phase: 'exited', message, version: null });
  }

  // ---- state ----------------------------------------------------------------

  private finish(request: string) {
    const r = this.requests.get(request);
    if (!r) return;
    // Later messages of the request (a late stream) still reach the cell.
    if (this.currentRequest(r.cell) === request) this.endRun(r.cell);
  }

  private endRun(key: string) {
    const { runs, prompts } = this.get();
    if (!(key in runs) && !(key in prompts)) return;
    const nextRuns = { ...runs };
    delete nextRuns[key];
    const nextPrompts = { ...prompts };
    delete nextPrompts[key];
    this.set({ ...this.get(), runs: nextRuns, prompts: nextPrompts });
  }

  private endRuns() {
    this.set({ ...this.get(), runs: {}, prompts: {} });
  }

  private setRun(key: string, state: 'queued' | 'running') {
    if (this.get().runs[key] === state) return;
    this.set({ ...this.get(), runs: { ...this.get().runs, [key]: state } });
  }

  private setCount(key: string, count: unknown) {
    if (typeof count !== 'number') return;
    const notebook = this.get().notebook;
    if (!notebook) return;
    this.setNotebook(mapCell(notebook, key, (c) => (c.executionCount === count ? c : { ...c, executionCount: count })));
    this.writeSoon();
  }

  private setKernel(change: Partial<KernelState>) {
    this.set({ ...this.get(), kernel: { ...this.get().kernel, ...change } });
  }

  private setNotebook(notebook: Notebook) {
    if (notebook !== this.get().notebook) this.set({ ...this.get(), notebook });
  }

  private writeSoon() {
    if (this.writeTimer || this.closed) return;
    this.writeTimer = setTimeout(() => this.writeNow(), OUTPUT_WRITE_MS);
  }

  private writeNow() {
    if (this.writeTimer) clearTimeout(this.writeTimer);
    this.writeTimer = null;
    const notebook = this.get().notebook;
    if (!notebook) return;
    const text = serializeNotebook(notebook);
    if (text === this.text) return;
    this.text = text;
    this.onText(text);
  }
}

export interface Completions {
  matches: string[];
  /** The text the matches replace, in UTF-16 offsets. */
  from: number;
  to: number;
}

/** Jupyter counts cursor positions in code points; the editor in UTF-16 units. */
export function codePoints(text: string, utf16: number): number {
  return Array.from(text.slice(0, utf16)).length;
}

export function utf16Offset(text: string, points: number): number {
  let offset = 0;
  let seen = 0;
  for (const c of text) {
    if (seen >= points) break;
    offset += c.length;
    seen++;
  }
  return offset;
}

function mapCell(notebook: Notebook, key: string, change: (cell: Cell) => Cell): Notebook {
  let changed = false;
  const cells = notebook.cells.map((c) => {
    if (c.key !== key) return c;
    const next = change(c);
    if (next !== c) changed = true;
    return next;
  });
  return changed ? { ...notebook, cells } : notebook;
}

/** The catalog language of the notebook's kernel (its kernelspec's), Python when it names none. */
export function languageOf(notebook: Notebook | null): string {
  const metadata = notebook?.rest.metadata as Record<string, Record<string, unknown> | undefined> | undefined;
  const named = metadata?.kernelspec?.language ?? metadata?.language_info?.name;
  return typeof named === 'string' && /^[a-z0-9_+-]{1,32}$/i.test(named) ? named.toLowerCase() : 'python';
}

/**
 * The notebooks open in this page: one session (and kernel) per open
 * notebook tab, by project and path (two projects' notebooks of one name
 * are two kernels).
 */
export class KernelsStore {
  private sessions = new Map<string, NotebookSession>();

  constructor(private client: BytesboxClient) {}

  /** The session of a project's notebook file, made on first use; `onText` writes the file. */
  session(project: string, path: string, onText: (project: string, path: string, text: string) => void): NotebookSession {
    const key = `${project}\u0000${path}`;
    let session = this.sessions.get(key);
    if (!session) {
      session = new NotebookSession(this.client, (text) => onText(project, path, text));
      this.sessions.set(key, session);
    }
    return session;
  }

  /** Ends the sessions (and kernels) of notebooks no longer open in a tab of the open project. */
  keepOnly(project: string | null, openPaths: string[]) {
    const open = new Set(openPaths.map((path) => `${project}\u0000${path}`));
    for (const [key, session] of this.sessions) {
      if (open.has(key)) continue;
      session.close();
      this.sessions.delete(key);
    }
  }

  /** Writes every session's pending outputs (before a save or leaving the page). */
  flushAll() {
    for (const session of this.sessions.values()) session.flush();
  }
}

/** Is this path a notebook? */
export function isNotebookPath(path: string | null): boolean {
  return !!path && path.toLowerCase().endsWith('.ipynb');
}

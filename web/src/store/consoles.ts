// Consoles: one per run. `applyMessage` turns a server frame into the
// console's next state plus the text (with ANSI colours) to write to its
// terminal; `ConsolesStore` holds every console and talks to the client.

import type { BytesboxClient, ConnectionState } from '../protocol/client';
import type { RunLimits, RunMessage, RunRequest, ServerMessage } from '../protocol/types';
import { decodeData } from '../protocol/types';
import { Store } from './store';
import type { Problem } from '../problems/parse';
import { Transcript } from '../problems/transcript';
import { MAX_RESULTS, problemsOfResults, type SqlResult } from '../sql/results';

export type Phase = 'starting' | 'queued' | 'compiling' | 'running' | 'finished' | 'failed' | 'lost';

export interface ExitInfo {
  stage: string;
  status: string;
  code: number | null;
  signal: number | null;
  wallMs: number;
  cpuMs: number;
  memoryBytes: number;
}

export interface ConsoleState {
  id: string;
  title: string;
  /** What it runs (entry and language): Run replaces the console of the same key. */
  key: string;
  /** The server chooses the entry; `accepted` names it, and it becomes the title. */
  awaitsEntry: boolean;
  phase: Phase;
  language: string | null;
  version: string | null;
  queuePosition: number | null;
  /** The last stage's exit, once there is one. */
  exit: ExitInfo | null;
  /** A one-line summary of how the run ended. */
  outcome: string | null;
  /** `performance.now()` when Run was pressed and when output first arrived. */
  startedAt: number;
  firstOutputAt: number | null;
  /** Errors and warnings read from the output of the stages that ended. */
  problems: Problem[];
  /** A run with structured SQL results: its results so far (else null). */
  sqlResults: SqlResult[] | null;
  /** The run has a terminal (else pipes, which take no resize). */
  tty: boolean;
}

const DIM = '\x1b[2m';
const RED = '\x1b[31m';
const BOLD_RED = '\x1b[1;31m';
const CYAN = '\x1b[36m';
const GREEN = '\x1b[32m';
const YELLOW = '\x1b[33m';
const RESET = '\x1b[0m';

/**
 * The symbols the console's own lines use (▶ Compiling, ■ exit, ✖ error):
 * terminal text, drawn in the terminal's monospace font (DejaVu Sans Mono
 * has them all); the IDE's icons are SVG (components/Icons).
 */
export const CONSOLE_SYMBOLS = '▶■✖·…●';

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** Linux's signals as `strsignal` names them, by number (x86-64 and arm64 agree on these). */
const SIGNALS: Record<number, string> = {
  1: 'Hangup',
  2: 'Interrupted',
  3: 'Quit',
  4: 'Illegal instruction',
  5: 'Trace/breakpoint trap',
  6: 'Aborted',
  7: 'Bus error',
  8: 'Floating-point exception',
  9: 'Killed',
  10: 'User defined signal 1',
  11: 'Segmentation fault',
  12: 'User defined signal 2',
  13: 'Broken pipe',
  14: 'Alarm clock',
  15: 'Terminated',
  24: 'CPU time limit exceeded',
  25: 'File size limit exceeded',
  31: 'Bad system call',
};

/** "Segmentation fault (signal 11)". */
export function describeSignal(signal: number | null): string {
  if (signal === null) return 'Killed by a signal';
  const name = SIGNALS[signal];
  return name ? `${name} (signal ${signal})` : `Killed by signal ${signal}`;
}

/** The few words a console tab shows for how a stage ended. */
export function statusLabel(exit: ExitInfo): string {
  switch (exit.status) {
    case 'ok':
      return 'done';
    case 'nonzero':
      return exit.stage === 'compile' ? 'compile error' : `exit code ${exit.code}`;
    case 'signaled':
      return (exit.signal !== null && SIGNALS[exit.signal]?.toLowerCase()) || 'crashed';
    case 'timeout':
      return 'time limit';
    case 'input_timeout':
      return 'no input';
    case 'cpu_limit':
      return 'CPU limit';
    case 'memory_limit':
      return 'memory limit';
    case 'output_limit':
      return 'output limit';
    case 'killed':
      return 'stopped';
    default:
      return exit.status.replace(/_/g, ' ');
  }
}

/** What an exit status means to a person. */
export function describeExit(exit: ExitInfo): string {
  const what = exit.stage === 'compile' ? 'Compilation' : 'The program';
  switch (exit.status) {
    case 'ok':
      return exit.stage === 'compile' ? 'Compiled' : 'Exited with code 0';
    case 'nonzero':
      return exit.stage === 'compile' ? `Compilation failed (code ${exit.code})` : `Exited with code ${exit.code}`;
    case 'signaled':
      return exit.stage === 'compile' ? `The compiler crashed: ${describeSignal(exit.signal)}` : describeSignal(exit.signal);
    case 'timeout':
      return `Time limit reached: ${what.toLowerCase()} was stopped`;
    case 'input_timeout':
      return 'Waited too long for input: the program was stopped';
    case 'cpu_limit':
      return `CPU time limit reached: ${what.toLowerCase()} was stopped`;
    case 'memory_limit':
      return `Memory limit reached: ${what.toLowerCase()} was stopped`;
    case 'output_limit':
      return `Output limit reached: ${what.toLowerCase()} was stopped`;
    case 'killed':
      return 'Stopped';
    default:
      return `Ended (${exit.status.replace(/_/g, ' ')})`;
  }
}

/** What an error code means to a person (docs/protocol.md's table). */
export function describeError(code: string, message: string): string {
  switch (code) {
    case 'queue_full':
      return `The server is busy (its queue is full). Try again in a moment. (${message})`;
    case 'too_many_runs':
      return 'Too many programs are running in this session: stop one first.';
    case 'runtime_unavailable':
      return `This language is not installed on the server. (${message})`;
    case 'unknown_language':
      return `The language could not be chosen: ${message}`;
    case 'no_entry_file':
      return `No entry file: ${message}`;
    case 'shutting_down':
      return 'The server is shutting down; try again shortly.';
    default:
      return `${message} [${code}]`;
  }
}

function exitLine(exit: ExitInfo): string {
  const good = exit.status === 'ok';
  const colour = good ? GREEN : exit.status === 'killed' ? YELLOW : BOLD_RED;
  const figures = `wall ${formatMs(exit.wallMs)} · CPU ${formatMs(exit.cpuMs)} · memory ${formatBytes(exit.memoryBytes)}`;
  return `\r\n${colour}■ ${describeExit(exit)}${RESET} ${DIM}(${figures})${RESET}\r\n`;
}

export function newConsole(id: string, title: string, now: number, key = title, awaitsEntry = false): ConsoleState {
  return {
    id,
    title,
    key,
    awaitsEntry,
    phase: 'starting',
    language: null,
    version: null,
    queuePosition: null,
    exit: null,
    outcome: null,
    startedAt: now,
    firstOutputAt: null,
    problems: [],
    sqlResults: null,
    tty: true,
  };
}

export interface Applied {
  console: ConsoleState;
  /** Text for the terminal. */
  writes: (string | Uint8Array)[];
}

/** The console after one frame about its run. */
export function applyMessage(state: ConsoleState, message: RunMessage, now: number): Applied {
  const writes: (string | Uint8Array)[] = [];
  let next = state;
  switch (message.type) {
    case 'accepted':
      next = { ...state, language: message.language, version: message.version };
      if (state.awaitsEntry && message.entry) next = { ...next, title: message.entry, awaitsEntry: false };
      break;
    case 'queued':
      next = { ...state, phase: 'queued', queuePosition: message.position };
      writes.push(`${DIM}Waiting for a free slot (position ${message.position})…${RESET}\r\n`);
      break;
    case 'stage':
      if (message.stage === 'compile') {
        next = { ...state, phase: 'compiling', queuePosition: null };
        writes.push(`${CYAN}▶ Compiling${state.version ? ` (${state.version})` : ''}…${RESET}\r\n`);
      } else {
        next = { ...state, phase: 'running', queuePosition: null };
        if (state.phase === 'compiling') writes.push(`${CYAN}▶ Running${RESET}\r\n`);
      }
      break;
    case 'output': {
      next = state.firstOutputAt === null ? { ...state, firstOutputAt: now } : state;
      const bytes = decodeData(message.data, message.encoding);
      if (message.stream === 'stderr') {
        writes.push(RED, bytes, RESET);
      } else {
        writes.push(bytes);
      }
      break;
    }
    case 'notice':
      writes.push(`\r\n${YELLOW}Notice: ${message.text}${RESET}\r\n`);
      break;
    case 'sql_result': {
      const results = state.sqlResults ?? [];
      if (results.length >= MAX_RESULTS) break;
      const problems = [...state.problems, ...problemsOfResults([message.result], state.title)];
      next = { ...state, sqlResults: [...results, message.result], problems };
      if (next.firstOutputAt === null) next.firstOutputAt = now;
      break;
    }
    case 'output_dropped':
      writes.push(`\r\n${YELLOW}[${message.bytes} bytes of output were dropped while disconnected]${RESET}\r\n`);
      break;
    case 'exit': {
      const exit: ExitInfo = {
        stage: message.stage,
        status: message.status,
        code: message.code,
        signal: message.signal,
        wallMs: message.wall_ms,
        cpuMs: message.cpu_ms,
        memoryBytes: message.memory_bytes,
      };
      next = { ...state, exit, outcome: describeExit(exit) };
      const compiledOk = exit.stage === 'compile' && exit.status === 'ok';
      if (compiledOk) {
        writes.push(`${DIM}  compiled in ${formatMs(exit.wallMs)}${RESET}\r\n`);
      } else {
        writes.push(exitLine(exit));
      }
      break;
    }
    case 'done':
      next = { ...state, phase: 'finished', queuePosition: null };
      break;
    case 'error': {
      // A control frame (resize, input) that crossed the run's end; the
      // run's own ending already came.
      if (!isActive(state)) return { console: state, writes };
      const text = describeError(message.code, message.message);
      next = { ...state, phase: 'failed', outcome: text, queuePosition: null };
      writes.push(`\r\n${BOLD_RED}✖ ${text}${RESET}\r\n`);
      break;
    }
  }
  return { console: next, writes };
}

export function isActive(state: ConsoleState): boolean {
  return state.phase === 'starting' || state.phase === 'queued' || state.phase === 'compiling' || state.phase === 'running';
}

/** The run was in a session that ended; nothing more will come. */
export function markLost(state: ConsoleState): Applied {
  const outcome = 'Lost connection: the session ended before the run did, so its result is unknown.';
  return {
    console: { ...state, phase: 'lost', outcome },
    writes: [`\r\n${BOLD_RED}✖ ${outcome}${RESET}\r\n`],
  };
}

export type TerminalSink = (id: string, data: string | Uint8Array) => void;

export interface ConsolesSnapshot {
  consoles: ConsoleState[];
  activeId: string | null;
  connection: ConnectionState;
  /** The limits a run that asks for none gets: the last `hello`'s `default_limits`. */
  limits: RunLimits | null;
}

let counter = 0;

/** Every console, wired to a client. */
export class ConsolesStore extends Store<ConsolesSnapshot> {
  private sinks = new Set<TerminalSink>();
  /** Text written before a terminal attached, by console. */
  private backlog = new Map<string, (string | Uint8Array)[]>();
  /** Each run's output as text, for its problems. */
  private transcripts = new Map<string, Transcript>();

  constructor(
    private client: BytesboxClient,
    private clock: () => number = () => performance.now(),
  ) {
    super({ consoles: [], activeId: null, connection: client.state, limits: client.defaultLimits });
    client.on('state', (connection) => this.set({ ...this.get(), connection, limits: client.defaultLimits }));
    client.on('message', (message) => this.onMessage(message));
    client.on('sessionLost', () => this.onSessionLost());
  }

  /** Receives every terminal write; returns a detach function. */
  attach(sink: TerminalSink): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  /** Text a new terminal must replay. */
  history(id: string): (string | Uint8Array)[] {
    return this.backlog.get(id) ?? [];
  }

  private write(id: string, chunks: (string | Uint8Array)[]) {
    if (!chunks.length) return;
    let log = this.backlog.get(id);
    if (!log) this.backlog.set(id, (log = []));
    log.push(...chunks);
    // Terminals keep their own scrollback; the log only replays into a
    // terminal that is created later (a console tab opened after output).
    if (log.length > 20000) log.splice(0, log.length - 20000);
    for (const chunk of chunks) for (const sink of this.sinks) sink(id, chunk);
  }

  private update(id: string, change: (c: ConsoleState) => Applied) {
    const snapshot = this.get();
    const index = snapshot.consoles.findIndex((c) => c.id === id);
    if (index < 0) return;
    const { console: next, writes } = change(snapshot.consoles[index]);
    // Output after the first chunk changes no state: nothing re-renders for it.
    if (next !== snapshot.consoles[index]) {
      const consoles = snapshot.consoles.slice();
      consoles[index] = next;
      this.set({ ...snapshot, consoles });
    }
    this.write(id, writes);
  }

  private onMessage(message: ServerMessage) {
    if (!('id' in message) || !message.id || message.type.startsWith('terminal_') || message.type.startsWith('kernel_')) return;
    const now = this.clock();
    const run = message as RunMessage;
    const id = message.id;
    const transcript = this.transcripts.get(id);
    if (run.type === 'output') transcript?.add(decodeData(run.data, run.encoding));
    this.update(id, (c) => {
      const applied = applyMessage(c, run, now);
      if (run.type !== 'exit' || !transcript) return applied;
      const problems = [...c.problems, ...transcript.endStage()];
      return { ...applied, console: { ...applied.console, problems } };
    });
  }

  private onSessionLost() {
    for (const c of this.get().consoles) if (isActive(c)) this.update(c.id, markLost);
  }

  /**
   * Starts a run and makes its console the active one. It takes the place
   * of the console that ran the same `key` (stopping that run first),
   * unless `newConsole` asks for one more. `files` are the project's paths,
   * for the problems in the output (the request's files by default).
   */
  start(
    title: string,
    request: Omit<RunRequest, 'id'>,
    {
      key = title,
      files,
      newConsole: another = false,
    }: { key?: string; files?: string[]; newConsole?: boolean } = {},
  ): string {
    const id = `run-${Date.now().toString(36)}-${++counter}`;
    const console = {
      ...newConsole(id, title, this.clock(), key, !request.entry),
      sqlResults: request.sql_results ? [] : null,
      tty: request.tty != null,
    };
    const snapshot = this.get();
    const active = snapshot.consoles.find((c) => c.id === snapshot.activeId);
    const previous = another
      ? undefined
      : active?.key === key
        ? active
        : [...snapshot.consoles].reverse().find((c) => c.key === key);
    // The old run is stopped before the new one starts.
    if (previous) this.stop(previous.id);
    // The frame goes out before anything is drawn for it.
    this.client.send({ type: 'run', id, ...request });
    this.transcripts.set(id, new Transcript(new Set(files ?? request.files?.map((f) => f.path) ?? [])));
    const consoles = previous
      ? snapshot.consoles.map((c) => (c === previous ? console : c))
      : [...snapshot.consoles, console];
    if (previous) this.forget(previous.id);
    this.set({ ...snapshot, consoles, activeId: id });
    this.write(id, [`\x1b[2m$ run ${title}\x1b[0m\r\n`]);
    return id;
  }

  private forget(id: string) {
    this.backlog.delete(id);
    this.transcripts.delete(id);
  }

  input(id: string, data: string) {
    const c = this.find(id);
    if (!c || !isActive(c)) return;
    // Ctrl+C interrupts the current stage, Ctrl+D ends the input; the
    // terminal in the box does the rest of the line editing.
    if (data === '\x03') this.client.send({ type: 'signal', id, signal: 'SIGINT' });
    else if (data === '\x04') this.client.send({ type: 'eof', id });
    else this.client.send({ type: 'stdin', id, data });
  }

  resize(id: string, rows: number, cols: number) {
    const c = this.find(id);
    // A run on pipes has no terminal to resize: the server would refuse
    // the frame, and its error would end the console's run as failed (a
    // SQL run's console shrinks as its first results show).
    if (c && isActive(c) && c.tty) this.client.send({ type: 'resize', id, rows, cols });
  }

  stop(id: string) {
    const c = this.find(id);
    if (c && isActive(c)) this.client.send({ type: 'kill', id });
  }

  activate(id: string) {
    this.set({ ...this.get(), activeId: id });
  }

  /** Closes a console tab, stopping its run first. */
  close(id: string) {
    this.stop(id);
    const snapshot = this.get();
    const index = snapshot.consoles.findIndex((c) => c.id === id);
    const consoles = snapshot.consoles.filter((c) => c.id !== id);
    const activeId =
      snapshot.activeId === id ? (consoles[Math.min(index, consoles.length - 1)]?.id ?? null) : snapshot.activeId;
    this.forget(id);
    this.set({ ...snapshot, consoles, activeId });
  }

  /** Clears a console's text (the run goes on). */
  clear(id: string) {
    this.backlog.set(id, []);
  }

  find(id: string): ConsoleState | undefined {
    return this.get().consoles.find((c) => c.id === id);
  }
}

// Terminals: interactive shells in the session's box (docs/protocol.md,
// "Terminals"). The store holds the tabs and speaks the terminal messages;
// the bytes go straight to the xterm.js terminal that attached as the sink
// (what arrives before it attaches is kept, bounded, and replayed into it).

import type { BytesboxClient } from '../protocol/client';
import type { ExitStatus, ServerMessage } from '../protocol/types';
import { decodeData } from '../protocol/types';
import { Store } from './store';
import { describeSignal } from './consoles';

export type TerminalPhase = 'opening' | 'open' | 'ended';

export interface TerminalTab {
  id: string;
  title: string;
  phase: TerminalPhase;
  /** How it ended, for the tab. */
  ending: string | null;
}

export interface TerminalsSnapshot {
  terminals: TerminalTab[];
  activeId: string | null;
}

export type TerminalSink = (id: string, data: string | Uint8Array) => void;

/**
 * Most characters per `terminal_input` frame: the server takes at most
 * 64 KiB a frame, and a character is at most 4 bytes of UTF-8 (a
 * surrogate pair, two UTF-16 units, is 4 bytes too).
 */
export const INPUT_CHUNK = 16 * 1024;

/** Output kept for a terminal that has no xterm yet. */
const BACKLOG_BYTES = 256 * 1024;

const DIM = '\x1b[2m';
const RED = '\x1b[31m';
const RESET = '\x1b[0m';

/** Splits input into frames the server takes, never inside a surrogate pair. */
export function inputChunks(data: string, size = INPUT_CHUNK): string[] {
  const chunks: string[] = [];
  let at = 0;
  while (at < data.length) {
    let end = Math.min(at + size, data.length);
    const last = data.charCodeAt(end - 1);
    if (end < data.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
    chunks.push(data.slice(at, end));
    at = end;
  }
  return chunks;
}

/** The words a tab shows for how its shell ended. */
export function describeEnding(status: ExitStatus, code: number | null, signal: number | null): string {
  switch (status) {
    case 'ok':
      return 'exited';
    case 'nonzero':
      return `exited with code ${code}`;
    case 'killed':
      return 'closed';
    case 'signaled':
      return describeSignal(signal);
    default:
      return status.replace(/_/g, ' ');
  }
}

let counter = 0;

export class TerminalsStore extends Store<TerminalsSnapshot> {
  private sinks = new Set<TerminalSink>();
  private backlog = new Map<string, { chunks: (string | Uint8Array)[]; bytes: number }>();
  /** Offset just past the last output byte received, by terminal. */
  private received = new Map<string, number>();

  constructor(private client: BytesboxClient) {
    super({ terminals: [], activeId: null });
    client.on('message', (message) => this.onMessage(message));
    client.on('state', (state) => state === 'open' && this.onHello());
    client.on('sessionLost', () => this.endAll('the session ended'));
  }

  /** Receives every terminal write; returns a detach function. */
  attach(sink: TerminalSink): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  /** What a new xterm must show first. */
  history(id: string): (string | Uint8Array)[] {
    return this.backlog.get(id)?.chunks ?? [];
  }

  /** Opens a terminal of `rows` × `cols` and makes it the active one. */
  open(rows: number, cols: number): string {
    const id = `term-${Date.now().toString(36)}-${++counter}`;
    const snapshot = this.get();
    const number = snapshot.terminals.length ? Math.max(...snapshot.terminals.map(tabNumber)) + 1 : 1;
    const tab: TerminalTab = { id, title: `Terminal ${number}`, phase: 'opening', ending: null };
    this.set({ terminals: [...snapshot.terminals, tab], activeId: id });
    this.received.set(id, 0);
    this.client.send({ type: 'terminal_open', id, rows, cols });
    return id;
  }

  activate(id: string) {
    this.set({ ...this.get(), activeId: id });
  }

  /** Keystrokes or pasted text. */
  input(id: string, data: string) {
    if (this.find(id)?.phase !== 'open') return;
    for (const chunk of inputChunks(data)) this.client.send({ type: 'terminal_input', id, data: chunk });
  }

  resize(id: string, rows: number, cols: number) {
    if (this.find(id)?.phase === 'ended') return;
    this.client.send({ type: 'terminal_resize', id, rows, cols });
  }

  /** Closes the tab; a live shell is killed with everything it started. */
  close(id: string) {
    const tab = this.find(id);
    if (!tab) return;
    if (tab.phase !== 'ended') this.client.send({ type: 'terminal_close', id });
    const snapshot = this.get();
    const terminals = snapshot.terminals.filter((t) => t.id !== id);
    const index = snapshot.terminals.indexOf(tab);
    const activeId =
      snapshot.activeId === id ? (terminals[Math.min(index, terminals.length - 1)]?.id ?? null) : snapshot.activeId;
    this.set({ terminals, activeId });
    this.backlog.delete(id);
    this.received.delete(id);
  }

  private find(id: string): TerminalTab | undefined {
    return this.get().terminals.find((t) => t.id === id);
  }

  private patch(id: string, change: Partial<TerminalTab>) {
    const snapshot = this.get();
    this.set({ ...snapshot, terminals: snapshot.terminals.map((t) => (t.id === id ? { ...t, ...change } : t)) });
  }

  private write(id: string, data: string | Uint8Array) {
    let log = this.backlog.get(id);
    if (!log) this.backlog.set(id, (log = { chunks: [], bytes: 0 }));
    log.chunks.push(data);
    log.bytes += data.length;
    while (log.bytes > BACKLOG_BYTES && log.chunks.length > 1) log.bytes -= log.chunks.shift()!.length;
    for (const sink of this.sinks) sink(id, data);
  }

  private onMessage(message: ServerMessage) {
    if (message.type === 'error' && message.terminal) {
      const id = message.terminal;
      const tab = this.find(id);
      if (!tab) return;
      this.write(id, `\r\n${RED}${message.message}${RESET}\r\n`);
      // Refused at the start: there is no shell.
      if (tab.phase === 'opening') this.patch(id, { phase: 'ended', ending: 'not opened' });
      return;
    }
    if (
      (message.type !== 'terminal_opened' && message.type !== 'terminal_output' && message.type !== 'terminal_exit') ||
      !this.find(message.id)
    ) {
      return;
    }
    switch (message.type) {
      case 'terminal_opened':
        this.patch(message.id, { phase: 'open' });
        break;
      case 'terminal_output': {
        const bytes = decodeData(message.data, message.encoding);
        const expected = this.received.get(message.id) ?? 0;
        // Output the server's scrollback no longer held when we came back.
        if (message.offset > expected) {
          this.write(message.id, `\r\n${DIM}[${message.offset - expected} bytes of output not shown]${RESET}\r\n`);
        }
        this.received.set(message.id, message.offset + bytes.length);
        this.write(message.id, bytes);
        break;
      }
      case 'terminal_exit': {
        const ending = describeEnding(message.status, message.code, message.signal);
        this.patch(message.id, { phase: 'ended', ending });
        this.write(message.id, `\r\n${DIM}[terminal ${ending}]${RESET}\r\n`);
        break;
      }
    }
  }

  /** After a (re)connection: terminals the session no longer has are gone. */
  private onHello() {
    const live = new Set(this.client.terminals.map((t) => t.id));
    for (const tab of this.get().terminals) {
      if (tab.phase === 'open' && !live.has(tab.id)) this.end(tab.id, 'lost');
    }
  }

  private endAll(why: string) {
    for (const tab of this.get().terminals) if (tab.phase !== 'ended') this.end(tab.id, why);
  }

  private end(id: string, why: string) {
    this.patch(id, { phase: 'ended', ending: why });
    this.write(id, `\r\n${RED}[terminal ${why}]${RESET}\r\n`);
  }
}

function tabNumber(tab: TerminalTab): number {
  return Number(tab.title.replace(/\D+/g, '')) || 0;
}

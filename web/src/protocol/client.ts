// The protocol v1 client: one WebSocket session that resumes itself.
//
// A dropped connection is retried with the session's resume token, so the
// server replays the output a running program produced meanwhile. If the
// session is gone (grace period over, server restarted), the client starts
// a fresh session and reports `session-lost` so the UI can tell the user
// which runs were lost.

import type { ClientMessage, OpenTerminal, RunLimits, RunMessage, ServerMessage } from './types';

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ClientEvents {
  state: (state: ConnectionState) => void;
  message: (message: ServerMessage) => void;
  /** The old session ended; runs of it will never report again. */
  sessionLost: () => void;
}

/** What the client needs of a WebSocket (the browser's, or a fake in tests). */
export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}

export type SocketFactory = (url: string) => SocketLike;

export interface ClientOptions {
  /** Base WebSocket URL, e.g. `ws://host/api/v1/ws`. */
  url: string;
  socket?: SocketFactory;
  /** Delays between reconnect attempts, in ms; the last one repeats. */
  backoffMs?: number[];
  /** Keep-alive interval in ms (0 disables). */
  pingMs?: number;
  /** Most frames kept while disconnected (keystrokes, runs). */
  maxPending?: number;
}

const OPEN = 1;

export class BytesboxClient {
  private socket: SocketLike | null = null;
  private resumeToken: string | null = null;
  private attempts = 0;
  private pending: ClientMessage[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private pinger: ReturnType<typeof setInterval> | null = null;
  private listeners: { [K in keyof ClientEvents]: Set<ClientEvents[K]> } = {
    state: new Set(),
    message: new Set(),
    sessionLost: new Set(),
  };
  private stopped = false;
  state: ConnectionState = 'closed';
  session: string | null = null;
  defaultLimits: RunLimits | null = null;
  maxLimits: RunLimits | null = null;
  /** The session's open terminals, as the last `hello` listed them. */
  terminals: OpenTerminal[] = [];
  private readonly opts: Required<ClientOptions>;

  constructor(opts: ClientOptions) {
    this.opts = {
      socket: (url) => new WebSocket(url) as unknown as SocketLike,
      backoffMs: [100, 250, 500, 1000, 2000],
      pingMs: 20000,
      maxPending: 4096,
      ...opts,
    };
  }

  on<K extends keyof ClientEvents>(event: K, listener: ClientEvents[K]): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  private emit<K extends keyof ClientEvents>(event: K, ...args: Parameters<ClientEvents[K]>) {
    for (const listener of this.listeners[event]) (listener as (...a: unknown[]) => void)(...args);
  }

  private setState(state: ConnectionState) {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  connect() {
    this.stopped = false;
    this.open();
  }

  /** Closes for good (no reconnect). */
  close() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.pinger) clearInterval(this.pinger);
    this.socket?.close(1000, 'bye');
    this.socket = null;
    this.setState('closed');
  }

  /** Drops the connection as a network failure would (used by tests and the UI's "reconnect"). */
  dropConnection() {
    this.socket?.close(4000, 'dropped');
  }

  private open() {
    const url = this.resumeToken
      ? `${this.opts.url}?resume=${encodeURIComponent(this.resumeToken)}`
      : this.opts.url;
    this.setState(this.resumeToken || this.attempts > 0 ? 'reconnecting' : 'connecting');
    const socket = this.opts.socket(url);
    this.socket = socket;
    let greeted = false;
    socket.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      let message: ServerMessage;
      try {
        message = JSON.parse(ev.data) as ServerMessage;
      } catch {
        return;
      }
      if (!greeted) {
        if (message.type === 'hello') {
          greeted = true;
          this.onHello(message);
          return;
        }
        if (message.type === 'error' && !message.id && this.resumeToken) {
          // unknown_session / session_in_use: the old session is not coming back.
          this.resumeToken = null;
          this.emit('sessionLost');
          return;
        }
      }
      this.emit('message', message);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.pinger) clearInterval(this.pinger);
      this.pinger = null;
      if (this.stopped) return;
      this.setState('reconnecting');
      const delays = this.opts.backoffMs;
      const delay = delays[Math.min(this.attempts, delays.length - 1)];
      this.attempts++;
      this.timer = setTimeout(() => this.open(), delay);
    };
    socket.onerror = () => {
      /* onclose follows */
    };
  }

  private onHello(hello: Extract<ServerMessage, { type: 'hello' }>) {
    this.attempts = 0;
    this.resumeToken = hello.resume;
    this.session = hello.session;
    this.defaultLimits = hello.default_limits;
    this.maxLimits = hello.max_limits;
    this.terminals = hello.terminals ?? [];
    this.setState('open');
    const queued = this.pending;
    this.pending = [];
    for (const message of queued) this.send(message);
    if (this.opts.pingMs > 0) {
      this.pinger = setInterval(() => this.send({ type: 'ping' }), this.opts.pingMs);
    }
  }

  /** Sends now, or after the connection is back. */
  send(message: ClientMessage) {
    if (this.socket && this.state === 'open' && this.socket.readyState === OPEN) {
      this.socket.send(JSON.stringify(message));
      return;
    }
    if (message.type === 'ping') return;
    if (this.pending.length >= this.opts.maxPending) this.pending.shift();
    this.pending.push(message);
  }

  /** Messages of one run. */
  onRun(id: string, listener: (message: RunMessage) => void): () => void {
    return this.on('message', (message) => {
      if ('id' in message && message.id === id) listener(message as RunMessage);
    });
  }
}

/** The WebSocket URL of the server that served this page. */
export function defaultUrl(location: { protocol: string; host: string }): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/api/v1/ws`;
}

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BytesboxClient, defaultUrl, type SocketLike } from '../src/protocol/client';
import type { ServerMessage } from '../src/protocol/types';

/** A WebSocket stand-in the test drives by hand. */
class FakeSocket implements SocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: unknown[] = [];
  closed = false;
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  constructor(public url: string) {
    FakeSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.drop();
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(message: ServerMessage | Record<string, unknown>) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  hello(resume = 'r-1', session = 's-1') {
    this.open();
    this.receive({ type: 'hello', session, resume, protocol: 1, default_limits: {}, max_limits: {} });
  }
  drop() {
    if (this.closed) return;
    this.closed = true;
    this.readyState = 3;
    this.onclose?.({ code: 1006 });
  }
}

const last = () => FakeSocket.all[FakeSocket.all.length - 1];

function client() {
  return new BytesboxClient({
    url: 'ws://host/api/v1/ws',
    socket: (url) => new FakeSocket(url),
    backoffMs: [10, 20],
    pingMs: 0,
  });
}

describe('BytesboxClient', () => {
  beforeEach(() => {
    FakeSocket.all = [];
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  it('opens a session and reports its state', () => {
    const c = client();
    const states: string[] = [];
    c.on('state', (s) => states.push(s));
    c.connect();
    expect(last().url).toBe('ws://host/api/v1/ws');
    last().hello();
    expect(states).toEqual(['connecting', 'open']);
    expect(c.session).toBe('s-1');
  });

  it('keeps frames sent before the hello and sends them after it, in order', () => {
    const c = client();
    c.connect();
    c.send({ type: 'run', id: 'a', files: [] });
    c.send({ type: 'stdin', id: 'a', data: 'x' });
    expect(last().sent).toEqual([]);
    last().hello();
    expect(last().sent).toEqual([
      { type: 'run', id: 'a', files: [] },
      { type: 'stdin', id: 'a', data: 'x' },
    ]);
  });

  it('routes frames of one run to its listener only', () => {
    const c = client();
    c.connect();
    last().hello();
    const seen: string[] = [];
    c.onRun('a', (m) => seen.push(m.type));
    last().receive({ type: 'accepted', id: 'a', language: 'python', version: '3' });
    last().receive({ type: 'accepted', id: 'b', language: 'python', version: '3' });
    last().receive({ type: 'pong', nonce: null });
    last().receive({ type: 'done', id: 'a' });
    expect(seen).toEqual(['accepted', 'done']);
  });

  it('reconnects with the resume token after a drop, and sends what was typed meanwhile', () => {
    const c = client();
    const states: string[] = [];
    c.on('state', (s) => states.push(s));
    c.connect();
    last().hello('r-secret');
    last().drop();
    expect(c.state).toBe('reconnecting');
    c.send({ type: 'stdin', id: 'a', data: 'typed while away' });
    vi.advanceTimersByTime(10);
    expect(FakeSocket.all).toHaveLength(2);
    expect(last().url).toBe('ws://host/api/v1/ws?resume=r-secret');
    last().hello('r-secret');
    expect(c.state).toBe('open');
    expect(last().sent).toEqual([{ type: 'stdin', id: 'a', data: 'typed while away' }]);
    expect(states).toEqual(['connecting', 'open', 'reconnecting', 'open']);
  });

  it('backs off while the server stays away', () => {
    const c = client();
    c.connect();
    last().drop();
    vi.advanceTimersByTime(10);
    expect(FakeSocket.all).toHaveLength(2);
    last().drop();
    vi.advanceTimersByTime(10);
    expect(FakeSocket.all).toHaveLength(2);
    vi.advanceTimersByTime(10);
    expect(FakeSocket.all).toHaveLength(3);
  });

  it('starts a fresh session when the old one is gone, and says so', () => {
    const c = client();
    let lost = 0;
    c.on('sessionLost', () => lost++);
    c.connect();
    last().hello('r-old', 's-old');
    last().drop();
    vi.advanceTimersByTime(10);
    last().open();
    last().receive({ type: 'error', code: 'unknown_session', message: 'gone' });
    expect(lost).toBe(1);
    last().drop();
    vi.advanceTimersByTime(20);
    expect(last().url).toBe('ws://host/api/v1/ws');
    last().hello('r-new', 's-new');
    expect(c.session).toBe('s-new');
    expect(c.state).toBe('open');
  });

  it('does not reconnect after close()', () => {
    const c = client();
    c.connect();
    last().hello();
    c.close();
    vi.advanceTimersByTime(1000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(c.state).toBe('closed');
  });

  it('ignores frames that are not JSON', () => {
    const c = client();
    c.connect();
    last().hello();
    const seen: unknown[] = [];
    c.on('message', (m) => seen.push(m));
    last().onmessage?.({ data: 'not json' });
    last().onmessage?.({ data: new ArrayBuffer(2) });
    expect(seen).toEqual([]);
  });

  it('derives the socket URL from the page', () => {
    expect(defaultUrl({ protocol: 'http:', host: 'a:8080' })).toBe('ws://a:8080/api/v1/ws');
    expect(defaultUrl({ protocol: 'https:', host: 'b' })).toBe('wss://b/api/v1/ws');
  });
});

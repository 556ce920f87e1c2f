import { describe, expect, it } from 'vitest';
import { TerminalsStore, describeEnding, inputChunks } from '../src/store/terminals';
import { connectedClient } from './opensocket';

const hello = (terminals: object[] = []) => ({
  type: 'hello',
  session: 's',
  resume: 'r',
  protocol: 1,
  default_limits: {},
  max_limits: {},
  terminals,
});

function setup() {
  const { client, sockets } = connectedClient(hello());
  const store = new TerminalsStore(client);
  const writes: [string, string][] = [];
  store.attach((id, d) => writes.push([id, typeof d === 'string' ? d : new TextDecoder().decode(d)]));
  const shown = (id: string) => writes.filter(([w]) => w === id).map(([, d]) => d).join('');
  return { sockets, store, shown };
}

describe('inputChunks', () => {
  it('splits big pastes into frames the server takes, never inside a surrogate pair', () => {
    expect(inputChunks('')).toEqual([]);
    expect(inputChunks('abc', 2)).toEqual(['ab', 'c']);
    const emoji = '\u{1F600}';
    const chunks = inputChunks(`a${emoji}b`, 2);
    expect(chunks).toEqual(['a', emoji, 'b']);
    expect(chunks.join('')).toBe(`a${emoji}b`);
  });
});

describe('TerminalsStore', () => {
  it('opens terminals, sends keys and sizes, shows output and how the shell ended', () => {
    const { sockets, store, shown } = setup();
    const first = store.open(24, 80);
    const second = store.open(30, 100);
    const socket = sockets[0];
    expect(socket.sent).toEqual([
      { type: 'terminal_open', id: first, rows: 24, cols: 80 },
      { type: 'terminal_open', id: second, rows: 30, cols: 100 },
    ]);
    expect(store.get().terminals.map((t) => t.title)).toEqual(['Terminal 1', 'Terminal 2']);
    expect(store.get().activeId).toBe(second);
    store.input(first, 'ls\r');
    expect(socket.sent).toHaveLength(2);
    socket.receive({ type: 'terminal_opened', id: first });
    store.input(first, 'ls\r');
    store.resize(first, 40, 120);
    expect(socket.sent.slice(2)).toEqual([
      { type: 'terminal_input', id: first, data: 'ls\r' },
      { type: 'terminal_resize', id: first, rows: 40, cols: 120 },
    ]);
    socket.receive({ type: 'terminal_output', id: first, offset: 0, data: 'main.py\r\n', encoding: 'utf8' });
    socket.receive({ type: 'terminal_output', id: first, offset: 9, data: btoa('\xff'), encoding: 'base64' });
    expect(shown(first)).toContain('main.py');
    expect(shown(second)).toBe('');
    socket.receive({ type: 'terminal_exit', id: first, code: 3, signal: null, status: 'nonzero' });
    expect(store.get().terminals[0]).toMatchObject({ phase: 'ended', ending: 'exited with code 3' });
    store.input(first, 'x');
    expect(socket.sent).toHaveLength(4);
    store.close(first);
    expect(socket.sent).toHaveLength(4);
    expect(store.get().terminals.map((t) => t.id)).toEqual([second]);
  });

  it('says when output was missed and marks terminals the session lost', async () => {
    const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
    const { sockets, store, shown } = setup();
    const id = store.open(24, 80);
    const socket = sockets[0];
    socket.receive({ type: 'terminal_opened', id });
    socket.receive({ type: 'terminal_output', id, offset: 0, data: 'abc', encoding: 'utf8' });
    socket.close();
    await tick();
    sockets[1].receive(hello([{ id, rows: 24, cols: 80 }]));
    expect(store.get().terminals[0].phase).toBe('open');
    sockets[1].receive({ type: 'terminal_output', id, offset: 103, data: 'tail', encoding: 'utf8' });
    expect(shown(id)).toContain('[100 bytes of output not shown]');
    sockets[1].close();
    await tick();
    sockets[2].receive(hello());
    expect(store.get().terminals[0]).toMatchObject({ phase: 'ended', ending: 'lost' });
  });

  it('shows a refusal in the terminal and closing a live one kills it', () => {
    const { sockets, store, shown } = setup();
    const refused = store.open(24, 80);
    sockets[0].receive({ type: 'error', terminal: refused, code: 'too_many_terminals', message: 'close one first' });
    expect(shown(refused)).toContain('close one first');
    expect(store.get().terminals[0].phase).toBe('ended');
    const live = store.open(24, 80);
    sockets[0].receive({ type: 'terminal_opened', id: live });
    store.close(live);
    expect(sockets[0].sent.at(-1)).toEqual({ type: 'terminal_close', id: live });
    expect(describeEnding('killed', null, 9)).toBe('closed');
  });
});

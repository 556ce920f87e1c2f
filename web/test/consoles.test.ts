import { describe, expect, it } from 'vitest';
import {
  ConsolesStore,
  applyMessage,
  describeExit,
  statusLabel,
  formatBytes,
  isActive,
  newConsole,
  type ConsoleState,
} from '../src/store/consoles';
import { connectedClient } from './opensocket';
import type { RunMessage } from '../src/protocol/types';

const text = (writes: (string | Uint8Array)[]) =>
  writes.map((w) => (typeof w === 'string' ? w : new TextDecoder().decode(w))).join('');

function play(messages: RunMessage[]): { state: ConsoleState; out: string } {
  let state = newConsole('r1', 'main.py', 0);
  let out = '';
  messages.forEach((m, i) => {
    const applied = applyMessage(state, m, 100 + i);
    state = applied.console;
    out += text(applied.writes);
  });
  return { state, out };
}

const exit = (stage: string, status: string, code: number | null = 0) =>
  ({
    type: 'exit',
    id: 'r1',
    stage,
    code,
    signal: null,
    status,
    wall_ms: 1500,
    cpu_ms: 20,
    memory_bytes: 6815744,
  }) as RunMessage;

describe('applyMessage', () => {
  it('shows a compile stage on its own, then the run, then the figures', () => {
    const { state, out } = play([
      { type: 'accepted', id: 'r1', language: 'cpp', version: 'g++ 12.2.0' },
      { type: 'stage', id: 'r1', stage: 'compile' },
      exit('compile', 'ok'),
      { type: 'stage', id: 'r1', stage: 'run' },
      { type: 'output', id: 'r1', stage: 'run', stream: 'stdout', data: 'hi\r\n', encoding: 'utf8' },
      exit('run', 'ok'),
      { type: 'done', id: 'r1' },
    ]);
    expect(out).toContain('Compiling (g++ 12.2.0)');
    expect(out).toContain('Running');
    expect(out.indexOf('Compiling')).toBeLessThan(out.indexOf('hi'));
    expect(out).toContain('Exited with code 0');
    expect(out).toContain('wall 1.50 s · CPU 20 ms · memory 6.5 MiB');
    expect(state.phase).toBe('finished');
    expect(state.firstOutputAt).toBe(104);
    expect(isActive(state)).toBe(false);
  });

  it('colours stderr and decodes base64 output', () => {
    const { out } = play([
      { type: 'output', id: 'r1', stage: 'run', stream: 'stderr', data: 'oops', encoding: 'utf8' },
      { type: 'output', id: 'r1', stage: 'run', stream: 'stdout', data: btoa('\x1b[32mgreen'), encoding: 'base64' },
    ]);
    expect(out).toContain('\x1b[31moops\x1b[0m');
    expect(out).toContain('\x1b[32mgreen');
  });

  it('says clearly why a run ended', () => {
    const cases: [string, string][] = [
      ['timeout', 'Time limit reached'],
      ['input_timeout', 'Waited too long for input'],
      ['memory_limit', 'Memory limit reached'],
      ['output_limit', 'Output limit reached'],
      ['cpu_limit', 'CPU time limit reached'],
      ['killed', 'Stopped'],
    ];
    for (const [status, words] of cases) {
      const { state, out } = play([exit('run', status, null), { type: 'done', id: 'r1' }]);
      expect(out).toContain(words);
      expect(state.outcome).toContain(words);
    }
    expect(play([exit('compile', 'nonzero', 1)]).out).toContain('Compilation failed (code 1)');
  });

  it('shows the server’s notice apart from the program’s output, and the run goes on', () => {
    const text = 'This program has waited 4 min 30 s for input and will be stopped in 30 s unless it gets some.';
    const { state, out } = play([{ type: 'notice', id: 'r1', stage: 'run', text }]);
    expect(out).toContain(`\x1b[33mNotice: ${text}`);
    expect(isActive(state)).toBe(true);
  });

  it('turns a full queue into advice, and ends the run', () => {
    const { state, out } = play([{ type: 'error', id: 'r1', code: 'queue_full', message: 'retry in 2 s' }]);
    expect(out).toContain('The server is busy');
    expect(state.phase).toBe('failed');
  });

  it('ignores an error about a control frame that crossed the run’s end', () => {
    const { state, out } = play([
      exit('run', 'ok'),
      { type: 'done', id: 'r1' },
      { type: 'error', id: 'r1', code: 'unknown_run', message: 'no active run' },
    ]);
    expect(state.phase).toBe('finished');
    expect(state.outcome).toBe('Exited with code 0');
    expect(out).not.toContain('no active run');
  });

  it('tracks the queue position', () => {
    const { state, out } = play([{ type: 'queued', id: 'r1', position: 3 }]);
    expect(state.phase).toBe('queued');
    expect(state.queuePosition).toBe(3);
    expect(out).toContain('position 3');
  });

  it('formats sizes and exits', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(2048)).toBe('2.0 KiB');
    expect(describeExit({ stage: 'run', status: 'nonzero', code: 3, signal: null, wallMs: 1, cpuMs: 1, memoryBytes: 1 })).toBe(
      'Exited with code 3',
    );
  });

  it('says how a run ended in words: a crash by its signal name, every status as words', () => {
    const ended = (status: string, signal: number | null = null, stage = 'run') =>
      ({ stage, status, code: status === 'nonzero' ? 1 : null, signal, wallMs: 1, cpuMs: 1, memoryBytes: 1 }) as const;
    expect(describeExit(ended('signaled', 11))).toBe('Segmentation fault (signal 11)');
    expect(describeExit(ended('signaled', 6))).toBe('Aborted (signal 6)');
    expect(describeExit(ended('signaled', 8))).toBe('Floating-point exception (signal 8)');
    expect(describeExit(ended('signaled', 64))).toBe('Killed by signal 64');
    expect(describeExit(ended('signaled', 11, 'compile'))).toBe('The compiler crashed: Segmentation fault (signal 11)');
    expect(statusLabel(ended('signaled', 11))).toBe('segmentation fault');
    const labels = ['ok', 'nonzero', 'timeout', 'input_timeout', 'cpu_limit', 'memory_limit', 'output_limit', 'killed', 'something_new'].map(
      (s) => statusLabel(ended(s)),
    );
    expect(labels).toEqual([
      'done',
      'exit code 1',
      'time limit',
      'no input',
      'CPU limit',
      'memory limit',
      'output limit',
      'stopped',
      'something new',
    ]);
    expect(statusLabel(ended('nonzero', null, 'compile'))).toBe('compile error');
    for (const s of ['ok', 'nonzero', 'signaled', 'timeout', 'input_timeout', 'cpu_limit', 'memory_limit', 'output_limit', 'killed', 'something_new']) {
      expect(describeExit(ended(s, 11))).not.toMatch(/_/);
    }
  });
});

function setup() {
  const { client, sockets } = connectedClient({ type: 'hello', session: 's', resume: 'r', protocol: 1, default_limits: {}, max_limits: {} });
  const store = new ConsolesStore(client, () => 0);
  const writes: [string, string][] = [];
  store.attach((id, d) => writes.push([id, typeof d === 'string' ? d : new TextDecoder().decode(d)]));
  return { sockets, store, writes };
}

describe('ConsolesStore', () => {
  it('runs two programs at once, each in its own console', () => {
    const { sockets, store, writes } = setup();
    const a = store.start('server.py', { files: [{ path: 'server.py', content: '' }], tty: { rows: 24, cols: 80 } });
    const b = store.start('client.py', { files: [{ path: 'client.py', content: '' }], tty: { rows: 24, cols: 80 } });
    expect(a).not.toBe(b);
    expect(sockets[0].sent.map((m) => [m.type, m.id])).toEqual([
      ['run', a],
      ['run', b],
    ]);
    sockets[0].receive({ type: 'output', id: b, stage: 'run', stream: 'stdout', data: 'from b', encoding: 'utf8' });
    sockets[0].receive({ type: 'output', id: a, stage: 'run', stream: 'stdout', data: 'from a', encoding: 'utf8' });
    expect(writes.filter(([id]) => id === a).map(([, d]) => d).join('')).toContain('from a');
    expect(writes.filter(([id]) => id === a).map(([, d]) => d).join('')).not.toContain('from b');
    expect(store.get().activeId).toBe(b);
    expect(store.history(b).length).toBeGreaterThan(1);
  });

  it('sends keys as input, Ctrl+C as SIGINT, Ctrl+D as end of input, and Stop as kill', () => {
    const { sockets, store } = setup();
    const id = store.start('main.py', { files: [], tty: { rows: 24, cols: 80 } });
    store.input(id, 'Ada\r');
    store.input(id, '\x03');
    store.input(id, '\x04');
    store.resize(id, 30, 100);
    store.stop(id);
    expect(sockets[0].sent.slice(1)).toEqual([
      { type: 'stdin', id, data: 'Ada\r' },
      { type: 'signal', id, signal: 'SIGINT' },
      { type: 'eof', id },
      { type: 'resize', id, rows: 30, cols: 100 },
      { type: 'kill', id },
    ]);
  });

  it('sends no resize for a run on pipes (the server would refuse it and fail the run)', () => {
    const { sockets, store } = setup();
    const id = store.start('main.sql', { files: [], tty: null, sql_results: true });
    store.resize(id, 30, 100);
    expect(sockets[0].sent.slice(1)).toEqual([]);
    expect(store.get().consoles[0].phase).toBe('starting');
  });

  it('sends nothing for a run that is over', () => {
    const { sockets, store } = setup();
    const id = store.start('main.py', { files: [] });
    sockets[0].receive({ type: 'done', id });
    store.input(id, 'x');
    store.stop(id);
    expect(sockets[0].sent).toHaveLength(1);
  });

  it('marks running programs lost when the session cannot be resumed', async () => {
    const { sockets, store, writes } = setup();
    const id = store.start('main.py', { files: [] });
    sockets[0].close();
    await new Promise((resolve) => setTimeout(resolve, 5));
    sockets[1].receive({ type: 'error', code: 'unknown_session', message: 'gone' });
    expect(store.find(id)?.phase).toBe('lost');
    expect(writes.map(([, d]) => d).join('')).toContain('Lost connection');
  });

  it('follows the connection state', () => {
    const { sockets, store } = setup();
    expect(store.get().connection).toBe('open');
    sockets[0].close();
    expect(store.get().connection).toBe('reconnecting');
  });

  it('sends the run frame before anyone is told about the new console', () => {
    const { sockets, store } = setup();
    const seen: number[] = [];
    store.subscribe(() => seen.push(sockets[0].sent.length));
    store.start('main.py', { files: [] });
    expect(seen[0]).toBe(1);
  });

  it('re-renders nothing for output after the first chunk, but writes it all', () => {
    const { sockets, store, writes } = setup();
    const id = store.start('main.py', { files: [] });
    const chunk = (data: string) => ({ type: 'output', id, stage: 'run', stream: 'stdout', data, encoding: 'utf8' });
    sockets[0].receive({ type: 'stage', id, stage: 'run' });
    let notified = 0;
    store.subscribe(() => notified++);
    sockets[0].receive(chunk('one '));
    expect(notified).toBe(1); // the first output is a state change (its time is kept)
    for (let i = 0; i < 50; i++) sockets[0].receive(chunk(`${i} `));
    expect(notified).toBe(1);
    expect(writes.filter(([w]) => w === id).map(([, d]) => d).join('')).toContain('one 0 1 2');
    sockets[0].receive({ type: 'done', id });
    expect(notified).toBe(2);
  });

  it('closing a console stops its run and picks a neighbour', () => {
    const { sockets, store } = setup();
    const a = store.start('a.py', { files: [] });
    const b = store.start('b.py', { files: [] });
    store.close(b);
    expect(sockets[0].sent.at(-1)).toEqual({ type: 'kill', id: b });
    expect(store.get().activeId).toBe(a);
    expect(store.get().consoles.map((c) => c.id)).toEqual([a]);
  });

  it('Run replaces the console of the same entry, stopping its run first; a new console is asked for', () => {
    const { sockets, store } = setup();
    const first = store.start('main.py', { files: [] });
    const other = store.start('other.py', { files: [] });
    const second = store.start('main.py', { files: [] });
    expect(sockets[0].sent.slice(-2)).toEqual([
      { type: 'kill', id: first },
      { type: 'run', id: second, files: [] },
    ]);
    expect(store.get().consoles.map((c) => c.id)).toEqual([second, other]);
    expect(store.history(first)).toEqual([]);
    const third = store.start('main.py', { files: [] }, { newConsole: true });
    expect(store.get().consoles.map((c) => c.id)).toEqual([second, other, third]);
    // The active one of the two is the one replaced.
    sockets[0].receive({ type: 'done', id: third });
    const fourth = store.start('main.py', { files: [] });
    expect(sockets[0].sent.at(-1)).toEqual({ type: 'run', id: fourth, files: [] });
    expect(store.get().consoles.map((c) => c.id)).toEqual([second, other, fourth]);
  });

  it('reads the problems of each stage from its output when it ends', () => {
    const { sockets, store } = setup();
    const id = store.start('main.c', { files: [{ path: 'main.c', content: '' }, { path: 'data.txt', content: '' }] });
    const output = (stage: string, data: string) => ({ type: 'output', id, stage, stream: 'stderr', data, encoding: 'utf8' });
    const end = (stage: string, status: string) => ({
      type: 'exit', id, stage, status, code: 0, signal: null, wall_ms: 1, cpu_ms: 1, memory_bytes: 1,
    });
    sockets[0].receive({ type: 'stage', id, stage: 'compile' });
    sockets[0].receive(output('compile', 'main.c:5:9: warn'));
    sockets[0].receive(output('compile', 'ing: unused variable ‘x’\r\n'));
    expect(store.find(id)?.problems).toEqual([]);
    sockets[0].receive(end('compile', 'ok'));
    sockets[0].receive({ type: 'stage', id, stage: 'run' });
    sockets[0].receive(output('run', 'data.txt:1:1: error: not a source\r\n'));
    sockets[0].receive(end('run', 'ok'));
    expect(store.find(id)?.problems.map((p) => [p.file, p.line, p.severity, p.message])).toEqual([
      ['main.c', 5, 'warning', 'unused variable ‘x’'],
      ['data.txt', 1, 'error', 'not a source'],
    ]);
  });

  it('takes the entry the server chose as the title, when the run named none', () => {
    const { sockets, store } = setup();
    const auto = store.start('main file', { files: [] });
    const named = store.start('lib/a.py', { files: [], entry: 'lib/a.py' });
    sockets[0].receive({ type: 'accepted', id: auto, language: 'cpp', version: 'g++ 12', entry: 'main.cpp' });
    sockets[0].receive({ type: 'accepted', id: named, language: 'python', version: '3.11', entry: 'lib/a.py' });
    expect(store.find(auto)?.title).toBe('main.cpp');
    expect(store.find(named)?.title).toBe('lib/a.py');
    // The key stays: the next run without an entry replaces this console.
    const again = store.start('main file', { files: [] });
    expect(store.get().consoles.map((c) => c.id)).toEqual([again, named]);
  });
});

describe('the limits a run gets', () => {
  it('are the last hello’s default_limits, kept up to date across a reconnect', async () => {
    const hello = { type: 'hello', session: 's', resume: 'r', protocol: 1, max_limits: {} };
    const { client, sockets } = connectedClient({ ...hello, default_limits: { wall_time_ms: 30000, memory_bytes: 134217728 } });
    const store = new ConsolesStore(client, () => 0);
    expect(store.get().limits).toEqual({ wall_time_ms: 30000, memory_bytes: 134217728 });
    client.dropConnection();
    await new Promise((resolve) => setTimeout(resolve, 0));
    sockets[1].receive({ ...hello, default_limits: { wall_time_ms: 60000 } });
    expect(store.get().connection).toBe('open');
    expect(store.get().limits).toEqual({ wall_time_ms: 60000 });
  });
});

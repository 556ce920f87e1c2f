import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KernelsStore, NotebookSession, describeKernelExit, languageOf } from '../src/store/kernels';
import { emptyNotebook, joinText, serializeNotebook, type Notebook } from '../src/notebook/model';
import { connectedClient } from './opensocket';

const hello = { type: 'hello', session: 's', resume: 'r', protocol: 1, default_limits: {}, max_limits: {} };

/** A notebook file with code cells of these sources, then a Markdown cell. */
function notebookText(...sources: string[]): string {
  const notebook: Notebook = emptyNotebook();
  notebook.cells = sources.map((source, i) => ({ ...notebook.cells[0], key: `k${i}`, source }));
  notebook.cells.push({ ...notebook.cells[0], key: 'md', type: 'markdown', source: '# notes' });
  return serializeNotebook(notebook);
}

function setup(...sources: string[]) {
  const { client, sockets } = connectedClient(hello);
  const socket = sockets[0];
  const written: string[] = [];
  const session = new NotebookSession(client, (text) => written.push(text));
  session.load(notebookText(...sources));
  const keys = session.get().notebook!.cells.map((c) => c.key);
  const kernelId = session.kernelId;
  /** Frames of type `type` sent so far. */
  const sent = (type: string) => socket.sent.filter((m) => m.type === type);
  const from = (msg_type: string, parent: string | null, content: object, channel = 'iopub') =>
    socket.receive({ type: 'kernel_message', id: kernelId, channel, msg_type, parent, content, metadata: {} });
  const ready = (restarted = false) =>
    socket.receive({ type: 'kernel_ready', id: kernelId, language: 'python', language_info: { name: 'python', version: '3.11.2' }, restarted });
  /** The whole of a successful cell run, as ipykernel sends it. */
  const complete = (request: string, count: number, outputs: [string, object][] = []) => {
    from('status', request, { execution_state: 'busy' });
    from('execute_input', request, { code: '', execution_count: count });
    for (const [type, content] of outputs) from(type, request, content);
    from('execute_reply', request, { status: 'ok', execution_count: count }, 'shell');
    from('status', request, { execution_state: 'idle' });
  };
  const cell = (i: number) => session.get().notebook!.cells[i];
  return { session, socket, sent, from, ready, complete, keys, kernelId, written, cell };
}

describe('NotebookSession', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('starts the kernel on the first run, then executes with a request id per run and routes outputs by parent', () => {
    const t = setup('print("hi")', '6*7');
    t.session.run([t.keys[0]]);
    expect(t.sent('kernel_start')).toEqual([{ type: 'kernel_start', id: t.kernelId, language: 'python' }]);
    expect(t.session.get().kernel.phase).toBe('starting');
    expect(t.session.get().runs).toEqual({ [t.keys[0]]: 'queued' });
    // Nothing is executed before the kernel is ready.
    expect(t.sent('kernel_execute')).toEqual([]);
    t.ready();
    const [execute] = t.sent('kernel_execute');
    expect(execute).toMatchObject({ id: t.kernelId, code: 'print("hi")' });
    const request = execute.request as string;
    expect(request.startsWith(`${t.keys[0]}.`)).toBe(true);

    t.from('status', request, { execution_state: 'busy' });
    expect(t.session.get().kernel.phase).toBe('busy');
    expect(t.session.get().runs).toEqual({ [t.keys[0]]: 'running' });
    t.from('execute_input', request, { code: 'print("hi")', execution_count: 1 });
    t.from('stream', request, { name: 'stdout', text: 'hi\n' });
    // Another request's message does not land in this cell.
    t.from('stream', 'someone-else.1', { name: 'stdout', text: 'not mine\n' });
    t.from('execute_reply', request, { status: 'ok', execution_count: 1 }, 'shell');
    expect(t.session.get().runs).toEqual({ [t.keys[0]]: 'running' });
    t.from('status', request, { execution_state: 'idle' });
    expect(t.session.get().runs).toEqual({});
    expect(t.session.get().kernel.phase).toBe('idle');
    expect(t.cell(0).executionCount).toBe(1);
    expect(t.cell(0).outputs.map((o) => o.json)).toEqual([{ output_type: 'stream', name: 'stdout', text: ['hi\n'] }]);

    // A late message of a run that is over still reaches its cell.
    t.from('stream', request, { name: 'stdout', text: 'late\n' });
    expect(t.cell(0).outputs.map((o) => o.json.text)).toEqual([['hi\n', 'late\n']]);
    // A second run of the same cell has its own request id; the first's messages no longer land in it.
    t.session.run([t.keys[0]]);
    const second = t.sent('kernel_execute')[1].request;
    expect(second).not.toBe(request);
    expect(t.cell(0).outputs).toEqual([]);
    t.from('stream', request, { name: 'stdout', text: 'from the first run\n' });
    expect(t.cell(0).outputs).toEqual([]);
  });

  it('starts the kernel when the notebook shows, once, and not again after it ended', () => {
    const t = setup('1');
    t.session.startIfOff();
    t.session.startIfOff();
    expect(t.sent('kernel_start')).toHaveLength(1);
    t.ready();
    t.socket.receive({ type: 'kernel_exited', id: t.kernelId, status: 'culled', exit_code: null, signal: null, memory_bytes: 0 });
    t.session.startIfOff();
    expect(t.sent('kernel_start')).toHaveLength(1);
    // A run starts one.
    t.session.run([t.keys[0]]);
    expect(t.sent('kernel_start')).toHaveLength(2);
  });

  it('writes outputs to the file within a moment, and edits at once', () => {
    const t = setup('1+1');
    t.session.setSource(t.keys[0], '2+2');
    expect(t.written).toHaveLength(1);
    expect(JSON.parse(t.written[0]).cells[0].source).toEqual(['2+2']);
    t.session.run([t.keys[0]]);
    t.ready();
    t.complete(t.sent('kernel_execute')[0].request as string, 1, [
      ['execute_result', { data: { 'text/plain': '4' }, metadata: {}, execution_count: 1 }],
    ]);
    const before = t.written.length;
    vi.advanceTimersByTime(300);
    expect(t.written.length).toBe(before + 1);
    const saved = JSON.parse(t.written[t.written.length - 1]);
    expect(saved.cells[0].execution_count).toBe(1);
    expect(saved.cells[0].outputs).toEqual([{ output_type: 'execute_result', data: { 'text/plain': ['4'] }, metadata: {}, execution_count: 1 }]);
    // What it wrote coming back (the project's change) is not a change from outside.
    const notebook = t.session.get().notebook;
    t.session.load(t.written[t.written.length - 1]);
    expect(t.session.get().notebook).toBe(notebook);
    // A different text is: it is read again.
    t.session.load(notebookText('other'));
    expect(t.cell(0).source).toBe('other');
  });

  it('runs all (code cells only) and above, and ends every run on an aborted reply', () => {
    const t = setup('a = 1', '1/0', 'b = 2');
    t.session.runAll();
    t.ready();
    const executes = t.sent('kernel_execute');
    expect(executes.map((m) => m.code)).toEqual(['a = 1', '1/0', 'b = 2']);
    const [r0, r1, r2] = executes.map((m) => m.request as string);
    t.complete(r0, 1);
    t.from('status', r1, { execution_state: 'busy' });
    t.from('error', r1, { ename: 'ZeroDivisionError', evalue: 'division by zero', traceback: ['\x1b[31mZeroDivisionError\x1b[0m'] });
    t.from('execute_reply', r1, { status: 'error', execution_count: 2 }, 'shell');
    t.from('status', r1, { execution_state: 'idle' });
    // Stop on error: the kernel aborts the next one.
    t.from('execute_reply', r2, { status: 'aborted' }, 'shell');
    expect(t.session.get().runs).toEqual({});
    expect(t.cell(1).outputs[0].json).toMatchObject({ output_type: 'error', ename: 'ZeroDivisionError' });
    expect(t.cell(2).executionCount).toBeNull();

    t.session.runAbove(t.keys[2]);
    expect(t.sent('kernel_execute').slice(3).map((m) => m.code)).toEqual(['a = 1', '1/0']);
  });

  it('asks for input and sends the answer for the cell’s request', () => {
    const t = setup('name = input("Name? ")');
    t.session.run([t.keys[0]]);
    t.ready();
    const request = t.sent('kernel_execute')[0].request as string;
    t.from('status', request, { execution_state: 'busy' });
    t.from('input_request', request, { prompt: 'Name? ', password: false }, 'stdin');
    expect(t.session.get().prompts).toEqual({ [t.keys[0]]: { prompt: 'Name? ', password: false } });
    t.session.answer(t.keys[0], 'Ada');
    expect(t.sent('kernel_input')).toEqual([{ type: 'kernel_input', id: t.kernelId, request, value: 'Ada' }]);
    expect(t.session.get().prompts).toEqual({});
    expect(joinText(t.cell(0).outputs[0].json.text)).toBe('Name? Ada\n');
    // A password is not shown.
    t.from('input_request', request, { prompt: 'Secret: ', password: true }, 'stdin');
    t.session.answer(t.keys[0], 'hunter2');
    expect(joinText(t.cell(0).outputs[0].json.text)).not.toContain('hunter2');
  });

  it('interrupts, restarts (counts from 1) and says clearly how a kernel ended', () => {
    const t = setup('while True: pass');
    t.session.interrupt();
    expect(t.sent('kernel_interrupt')).toEqual([]);
    t.session.run([t.keys[0]]);
    t.ready();
    const request = t.sent('kernel_execute')[0].request as string;
    t.from('status', request, { execution_state: 'busy' });
    t.session.interrupt();
    expect(t.sent('kernel_interrupt')).toEqual([{ type: 'kernel_interrupt', id: t.kernelId }]);
    t.from('error', request, { ename: 'KeyboardInterrupt', evalue: '', traceback: [] });

    t.session.restart();
    expect(t.sent('kernel_restart')).toEqual([{ type: 'kernel_restart', id: t.kernelId }]);
    expect(t.session.get().kernel.phase).toBe('restarting');
    expect(t.session.get().runs).toEqual({});
    t.ready(true);
    expect(t.session.get().kernel.phase).toBe('idle');

    // Out of memory: said in words; a run then starts a new kernel of the same id.
    t.session.run([t.keys[0]]);
    t.socket.receive({ type: 'kernel_exited', id: t.kernelId, status: 'memory_limit', exit_code: null, signal: 9, memory_bytes: 1 << 28 });
    expect(t.session.get().kernel.phase).toBe('exited');
    expect(t.session.get().kernel.message).toMatch(/ran out of memory/);
    expect(t.session.get().runs).toEqual({});
    t.session.run([t.keys[0]]);
    expect(t.sent('kernel_start')).toHaveLength(2);
    expect(describeKernelExit('nonzero', 3)).toMatch(/code 3/);
    expect(describeKernelExit('culled', null)).toMatch(/idle/);
  });

  it('reports a kernel that cannot start, and the session lost with the connection', () => {
    const t = setup('1');
    t.session.run([t.keys[0]]);
    t.socket.receive({ type: 'error', id: t.kernelId, code: 'unsupported', message: 'this backend does not support kernels' });
    expect(t.session.get().kernel).toMatchObject({ phase: 'exited', message: 'The kernel could not start: this backend does not support kernels' });
    expect(t.session.get().runs).toEqual({});
    // Errors about other ids are not this kernel's.
    t.socket.receive({ type: 'error', id: 'run-1', code: 'queue_full', message: 'x' });
    expect(t.session.get().kernel.message).toMatch(/could not start/);
  });

  it('updates a display in place and clears with wait', () => {
    const t = setup('h = display("a", display_id=True)', 'h.update("b")');
    t.session.runAll();
    t.ready();
    const [r0, r1] = t.sent('kernel_execute').map((m) => m.request as string);
    t.complete(r0, 1, [['display_data', { data: { 'text/plain': "'a'" }, metadata: {}, transient: { display_id: 'abc' } }]]);
    t.from('update_display_data', r1, { data: { 'text/plain': "'b'" }, metadata: {}, transient: { display_id: 'abc' } });
    expect(t.cell(0).outputs[0].json.data).toEqual({ 'text/plain': ["'b'"] });
    t.from('stream', r1, { name: 'stdout', text: 'one\n' });
    t.from('clear_output', r1, { wait: true });
    expect(t.cell(1).outputs).toHaveLength(1);
    t.from('stream', r1, { name: 'stdout', text: 'two\n' });
    expect(t.cell(1).outputs.map((o) => o.json.text)).toEqual([['two\n']]);
  });

  it('edits cells: add, type, move, delete, clear outputs', () => {
    const t = setup('a', 'b');
    const added = t.session.addCell('markdown', t.keys[0])!;
    expect(t.session.get().notebook!.cells.map((c) => c.key)).toEqual([t.keys[0], added, t.keys[1], t.keys[2]]);
    expect(t.session.get().notebook!.cells[1].rest.id).toMatch(/^[0-9a-f]{12}$/);
    t.session.moveCell(added, -1);
    expect(t.cell(0).key).toBe(added);
    t.session.moveCell(added, -1);
    expect(t.cell(0).key).toBe(added);
    t.session.setType(t.keys[1], 'markdown');
    expect(t.cell(2).type).toBe('markdown');
    t.session.deleteCell(added);
    expect(t.session.get().notebook!.cells).toHaveLength(3);
    // Running a Markdown cell sends nothing.
    t.session.run([t.keys[2]]);
    expect(t.sent('kernel_start')).toEqual([]);
    const last = JSON.parse(t.written[t.written.length - 1]);
    expect(last.cells.map((c: { cell_type: string }) => c.cell_type)).toEqual(['code', 'markdown', 'markdown']);
  });

  it('shuts the kernel down when its notebook tab closes or another project opens', () => {
    const { client, sockets } = connectedClient(hello);
    const store = new KernelsStore(client);
    const files: Record<string, string> = {};
    const a = store.session('p1', 'a.ipynb', (project, path, text) => (files[`${project}/${path}`] = text));
    expect(store.session('p1', 'a.ipynb', () => {})).toBe(a);
    // Another project's notebook of the same name is another session.
    expect(store.session('p2', 'a.ipynb', () => {})).not.toBe(a);
    a.load(notebookText('1'));
    a.runAll();
    sockets[0].receive({ type: 'kernel_ready', id: a.kernelId, language: 'python', language_info: {}, restarted: false });
    store.keepOnly('p1', ['a.ipynb']);
    expect(sockets[0].sent.filter((m) => m.type === 'kernel_shutdown')).toEqual([]);
    a.setSource(a.get().notebook!.cells[0].key, '2');
    expect(JSON.parse(files['p1/a.ipynb']).cells[0].source).toEqual(['2']);
    // Another project opened: the kernel of this one's notebook ends.
    store.keepOnly('p2', ['a.ipynb']);
    expect(sockets[0].sent.filter((m) => m.type === 'kernel_shutdown')).toEqual([{ type: 'kernel_shutdown', id: a.kernelId }]);
    expect(store.session('p1', 'a.ipynb', () => {})).not.toBe(a);
  });

  it('asks the kernel for completions (the cursor in code points both ways) and help', async () => {
    const t = setup('x');
    expect(await t.session.complete('pri', 3)).toBeNull();
    t.session.run([t.keys[0]]);
    t.ready();
    // "é😀." is 4 UTF-16 units before the name but 3 code points.
    const code = 'é😀.pr';
    const answer = t.session.complete(code, code.length);
    const [ask] = t.sent('kernel_complete');
    expect(ask).toMatchObject({ id: t.kernelId, code, cursor_pos: 5 });
    t.from('complete_reply', ask.request as string, { status: 'ok', matches: ['print', 'property', 7], cursor_start: 3, cursor_end: 5 }, 'shell');
    expect(await answer).toEqual({ matches: ['print', 'property'], from: 4, to: 6 });
    // Help on a name: the kernel's text/plain, or none when it found nothing.
    const help = t.session.inspect('len(x)', 3);
    const [inspect] = t.sent('kernel_inspect');
    expect(inspect).toMatchObject({ code: 'len(x)', cursor_pos: 3 });
    t.from('inspect_reply', inspect.request as string, { status: 'ok', found: true, data: { 'text/plain': '\x1b[31mSignature:\x1b[0m len(obj, /)' } }, 'shell');
    expect(await help).toBe('\x1b[31mSignature:\x1b[0m len(obj, /)');
    const nothing = t.session.inspect('zz', 2);
    t.from('inspect_reply', t.sent('kernel_inspect')[1].request as string, { status: 'ok', found: false, data: {} }, 'shell');
    expect(await nothing).toBeNull();
    // No answer in time: none.
    const late = t.session.complete('a', 1, 100);
    vi.advanceTimersByTime(150);
    expect(await late).toBeNull();
  });

  it('reads the kernel language from the notebook, Python by default', () => {
    const notebook = emptyNotebook();
    expect(languageOf(notebook)).toBe('python');
    notebook.rest.metadata = { kernelspec: { language: 'R' } };
    expect(languageOf(notebook)).toBe('r');
    expect(languageOf(null)).toBe('python');
  });
});


// A cell's outputs from the kernel's iopub messages (Jupyter's messaging
// protocol), kept in nbformat's shape so that they are saved as they are
// shown: streams merge into one output per run of the same stream (with
// `\r` and `\b` applied, enough for progress bars), rich results and
// displays become `execute_result` / `display_data`, `update_display_data`
// replaces the displays of its id wherever they are, `clear_output` clears
// (at once, or with `wait` just before the next output), and errors keep
// their traceback.

import { joinText, splitLines, type CellOutput, type NbOutput, type Notebook } from './model';

/** A cell's outputs and whether a `clear_output(wait=True)` is pending. */
export interface OutputState {
  outputs: CellOutput[];
  clearPending: boolean;
}

/** MIME types nbformat stores as lists of lines besides `text/*` (nbformat's `_split_mimebundle`). */
const SPLIT_MIMES = new Set(['application/javascript', 'image/svg+xml']);

/** A MIME bundle in nbformat's storage form: text as lists of lines, JSON as it is. */
export function storedBundle(data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [mime, value] of Object.entries(data)) {
    out[mime] = typeof value === 'string' && (mime.startsWith('text/') || SPLIT_MIMES.has(mime)) ? splitLines(value) : value;
  }
  return out;
}


/**
 * What a terminal would show of `text`: `\b` deletes the character before
 * it, `\r` goes back to the line's start (what follows overwrites the whole
 * line, as progress bars expect). A `\r` at the very end is kept: the next
 * chunk may be its `\n`.
 */
export function applyControlCharacters(text: string): string {
  if (text.includes('\b')) {
    let out = '';
    for (const c of text) {
      if (c === '\b') {
        if (out.length && !out.endsWith('\n')) out = out.slice(0, -1);
      } else out += c;
    }
    text = out;
  }
  if (!text.includes('\r')) return text;
  const lines = text.replace(/\r+\n/g, '\n').split('\n');
  return lines
    .map((line, i) => {
      const last = i === lines.length - 1;
      const trimmed = last && line.endsWith('\r') ? line.slice(0, -1) : line;
      const from = trimmed.lastIndexOf('\r') + 1;
      return trimmed.slice(from) + (trimmed !== line ? '\r' : '');
    })
    .join('\n');
}

/**
 * Most characters one stream output keeps: a cell printing without end
 * keeps its last megabyte or so (in the page and in the file), with a
 * line that says how much went before.
 */
export const MAX_STREAM_CHARS = 1_000_000;

const DROPPED = /^\[(\d+) earlier characters not kept\]\n/;

/** `text` cut to its last `MAX_STREAM_CHARS` characters (from a line's start), counting what earlier cuts dropped. */
export function boundStream(text: string, max = MAX_STREAM_CHARS): string {
  if (text.length <= max) return text;
  const earlier = DROPPED.exec(text);
  const dropped = earlier ? Number(earlier[1]) : 0;
  const body = earlier ? text.slice(earlier[0].length) : text;
  let from = body.length - max;
  // From a line's start, when one is in what is kept.
  const nextLine = body[from - 1] === '\n' ? from - 1 : body.indexOf('\n', from);
  if (nextLine >= 0 && nextLine < body.length - 1) from = nextLine + 1;
  return `[${dropped + from} earlier characters not kept]\n${body.slice(from)}`;
}

/** Content of an iopub message as the protocol's `kernel_message` carries it. */
export type Content = Record<string, unknown>;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function displayIdOf(content: Content): string | null {
  const transient = content.transient;
  if (isObject(transient) && typeof transient.display_id === 'string') return transient.display_id;
  return null;
}

/** Adds an output, clearing first when a `clear_output(wait=True)` waits for it. */
function push(state: OutputState, output: CellOutput): OutputState {
  const outputs = state.clearPending ? [] : state.outputs;
  return { outputs: [...outputs, output], clearPending: false };
}

/**
 * The outputs after one iopub message of this cell's request; `null` when
 * the message does not concern outputs (`status`, `execute_input`, …) or
 * is malformed. `update_display_data` is the notebook's (`updateDisplays`).
 */
export function applyOutputMessage(state: OutputState, msgType: string, content: Content): OutputState | null {
  switch (msgType) {
    case 'stream': {
      const name = content.name === 'stderr' ? 'stderr' : 'stdout';
      if (typeof content.text !== 'string') return null;
      const base = state.clearPending ? [] : state.outputs;
      const last = base[base.length - 1];
      if (last && last.json.output_type === 'stream' && last.json.name === name) {
        const text = boundStream(applyControlCharacters(joinText(last.json.text) + content.text));
        const merged: CellOutput = { json: { ...last.json, text: splitLines(text) }, displayId: null };
        return { outputs: [...base.slice(0, -1), merged], clearPending: false };
      }
      const json: NbOutput = { output_type: 'stream', name, text: splitLines(boundStream(applyControlCharacters(content.text))) };
      return push(state, { json, displayId: null });
    }
    case 'execute_result':
    case 'display_data': {
      if (!isObject(content.data)) return null;
      const json: NbOutput = {
        output_type: msgType,
        data: storedBundle(content.data),
        metadata: isObject(content.metadata) ? content.metadata : {},
      };
      if (msgType === 'execute_result') {
        json.execution_count = typeof content.execution_count === 'number' ? content.execution_count : null;
      }
      return push(state, { json, displayId: displayIdOf(content) });
    }
    case 'error': {
      const json: NbOutput = {
        output_type: 'error',
        ename: typeof content.ename === 'string' ? content.ename : 'Error',
        evalue: typeof content.evalue === 'string' ? content.evalue : '',
        traceback: Array.isArray(content.traceback) ? content.traceback.filter((l) => typeof l === 'string') : [],
      };
      return push(state, { json, displayId: null });
    }
    case 'clear_output':
      return content.wait === true ? { outputs: state.outputs, clearPending: true } : { outputs: [], clearPending: false };
    default:
      return null;
  }
}

/**
 * `update_display_data`: every output shown with that display id, in any
 * cell, takes the new data and metadata (and keeps its place). The same
 * notebook back when no output has the id.
 */
export function updateDisplays(notebook: Notebook, content: Content): Notebook {
  const id = displayIdOf(content);
  if (!id || !isObject(content.data)) return notebook;
  const data = storedBundle(content.data);
  const metadata = isObject(content.metadata) ? content.metadata : {};
  let changed = false;
  const cells = notebook.cells.map((cell) => {
    if (!cell.outputs.some((o) => o.displayId === id)) return cell;
    changed = true;
    return {
      ...cell,
      outputs: cell.outputs.map((o) => (o.displayId === id ? { ...o, json: { ...o.json, data, metadata } } : o)),
    };
  });
  return changed ? { ...notebook, cells } : notebook;
}

// A notebook in nbformat 4 (https://nbformat.readthedocs.io), as the
// notebook view edits it: cells with their source, outputs and execution
// counts, and everything else kept as it came.
//
// What the IDE does not understand passes through untouched: the
// notebook's and each cell's metadata, attachments, unknown keys, and
// outputs (stored as their nbformat JSON, lists of lines and all, so an
// output type or MIME type nobody here knows is written back as it was
// read). `serializeNotebook` writes what Jupyter writes (nbformat's
// `writes`: keys sorted, one-space indent, multi-line strings as lists of
// lines, a final newline), so a notebook saved by JupyterLab and saved
// again here is the same bytes unless something changed.

export type CellType = 'code' | 'markdown' | 'raw';

/** One output, as nbformat stores it (`output_type` and its fields). */
export type NbOutput = Record<string, unknown> & { output_type: string };

export interface CellOutput {
  json: NbOutput;
  /** The display id a later `update_display_data` names (never saved: Jupyter's `transient`). */
  displayId: string | null;
}

export interface Cell {
  /** This page's name for the cell (kernel requests, React keys); not saved. */
  key: string;
  type: CellType;
  source: string;
  /** Code cells only. */
  outputs: CellOutput[];
  executionCount: number | null;
  /** Every other key of the cell as read (metadata, attachments, id, unknown ones). */
  rest: Record<string, unknown>;
}

export interface Notebook {
  cells: Cell[];
  /** Every key but `cells` as read (nbformat, nbformat_minor, metadata, unknown ones). */
  rest: Record<string, unknown>;
}

export class NotebookParseError extends Error {}

let keys = 0;
/** A fresh key for a cell of this page. */
export function cellKey(): string {
  return `c${(++keys).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/** nbformat 4.5's cell id: 1-64 of [a-zA-Z0-9-_]. */
export function newCellId(): string {
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A notebook for a new `.ipynb` file: one empty code cell, Python 3's kernelspec. */
export function emptyNotebook(): Notebook {
  return {
    rest: {
      metadata: {
        kernelspec: { display_name: 'Python 3', language: 'python', name: 'python3' },
        language_info: { name: 'python' },
      },
      nbformat: 4,
      nbformat_minor: 5,
    },
    cells: [newCell('code', 5)],
  };
}

/** A new cell; it gets an `id` when the notebook's minor version has them (4.5 and later). */
export function newCell(type: CellType, nbformatMinor: number, source = ''): Cell {
  const rest: Record<string, unknown> = { metadata: {} };
  if (nbformatMinor >= 5) rest.id = newCellId();
  return { key: cellKey(), type, source, outputs: [], executionCount: null, rest };
}

export function minorOf(notebook: Notebook): number {
  const minor = notebook.rest.nbformat_minor;
  return typeof minor === 'number' ? minor : 0;
}

/** `"".join(lines)` for a multi-line string, which nbformat stores either way. */
export function joinText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map((line) => (typeof line === 'string' ? line : '')).join('');
  return '';
}

/**
 * Python's `str.splitlines(True)`, which nbformat uses to store multi-line
 * strings: every line keeps its ending, and Python's line boundaries are
 * more than `\n` (`\r`, `\r\n`, `\v`, `\f`, `\x1c`-`\x1e`, `\x85`, U+2028,
 * U+2029).
 */
export function splitLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\r' && text[i + 1] === '\n') i++;
    else if (!LINE_BREAKS.has(c)) continue;
    lines.push(text.slice(start, i + 1));
    start = i + 1;
  }
  if (start < text.length) lines.push(text.slice(start));
  return lines;
}

const LINE_BREAKS = new Set(['\n', '\r', '\v', '\f', '\x1c', '\x1d', '\x1e', '\x85', '\u2028', '\u2029']);

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Reads a notebook file; throws `NotebookParseError` with what is wrong. */
export function parseNotebook(text: string): Notebook {
  if (text.trim() === '') return emptyNotebook();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new NotebookParseError(`This notebook is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(json)) throw new NotebookParseError('This notebook is not a JSON object.');
  if (json.nbformat !== 4) {
    throw new NotebookParseError(`This notebook is nbformat ${String(json.nbformat)}; only nbformat 4 opens here.`);
  }
  if (!Array.isArray(json.cells)) throw new NotebookParseError('This notebook has no list of cells.');
  const { cells, ...rest } = json;
  return {
    rest,
    cells: cells.map((raw, index) => {
      if (!isObject(raw)) throw new NotebookParseError(`Cell ${index + 1} is not a JSON object.`);
      const { cell_type, source, outputs, execution_count, ...cellRest } = raw;
      if (cell_type !== 'code' && cell_type !== 'markdown' && cell_type !== 'raw') {
        throw new NotebookParseError(`Cell ${index + 1} has an unknown type ${JSON.stringify(cell_type)}.`);
      }
      const cell: Cell = {
        key: cellKey(),
        type: cell_type,
        source: joinText(source),
        outputs: [],
        executionCount: null,
        rest: cellRest,
      };
      if (cell_type === 'code') {
        cell.outputs = (Array.isArray(outputs) ? outputs : []).filter(isObject).map((json) => ({
          json: json as NbOutput,
          displayId: null,
        }));
        cell.executionCount = typeof execution_count === 'number' ? execution_count : null;
      } else {
        // Keys a Markdown or raw cell should not have are kept as they came.
        if (outputs !== undefined) cell.rest.outputs = outputs;
        if (execution_count !== undefined) cell.rest.execution_count = execution_count;
      }
      return cell;
    }),
  };
}

/** The notebook's JSON, as nbformat's `writes` makes it. */
export function serializeNotebook(notebook: Notebook): string {
  const json = {
    ...notebook.rest,
    cells: notebook.cells.map((cell) => {
      const out: Record<string, unknown> = { ...cell.rest, cell_type: cell.type, source: splitLines(cell.source) };
      if (cell.type === 'code') {
        out.outputs = cell.outputs.map((o) => o.json);
        out.execution_count = cell.executionCount;
      }
      return out;
    }),
  };
  return `${JSON.stringify(sortKeys(json), null, 1)}\n`;
}

/** A copy with every object's keys in code-point order (Python's `sort_keys`). */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (!isObject(value)) return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort(byCodePoint)) sorted[key] = sortKeys(value[key]);
  return sorted;
}

// Python sorts str keys by code point; JavaScript's default sort is by
// UTF-16 unit, which differs only past the BMP.
function byCodePoint(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

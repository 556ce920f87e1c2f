// Problems from a run's output: the compilers' and interpreters' messages
// (gcc/g++, javac and Java stack traces, Python tracebacks, Node errors,
// bash) turned into file, line and column, and the locations in a console
// line that can be clicked. One table, one entry per toolchain; docs/web.md
// ("Problems") says why this runs in the browser and which formats it reads.
//
// The output is the boxed program's: hostile. Everything here is plain
// text in, plain data out; nothing is ever rendered as HTML.

export type Severity = 'error' | 'warning' | 'info';

export interface Problem {
  /** A project file (workspace-relative), never a path outside it. */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based, or null when the tool gives none. */
  column: number | null;
  severity: Severity;
  message: string;
  /** Which toolchain's format it was read from. */
  source: string;
}

/** A location inside one line of console text, for a link. */
export interface Location {
  /** Character offsets of the link's text in the line. */
  start: number;
  end: number;
  file: string;
  line: number;
  column: number | null;
}

/** Where programs run in the box (crates/sandbox: `workspace_dir`). */
const WORKSPACE = '/workspace/';
/** Enough for any real build; a flood of fake ones stops here. */
const MAX_PROBLEMS = 200;
const MAX_MESSAGE = 500;

/**
 * The project file a tool's path names: relative to the workspace (as
 * compilers print it) or absolute inside it (as Python and Node do).
 * Anything else (a library, `node:internal/…`) is not the user's: null.
 */
export function resolveFile(raw: string, files: ReadonlySet<string>): string | null {
  let path = raw.trim();
  if (path.startsWith(WORKSPACE)) path = path.slice(WORKSPACE.length);
  else if (path.startsWith('/')) return null;
  while (path.startsWith('./')) path = path.slice(2);
  return files.has(path) ? path : null;
}

interface Toolchain {
  name: string;
  /**
   * Problems that start at `lines[i]`, or null when the line is not one of
   * this toolchain's; `consumed` lines belong to them.
   */
  read(lines: string[], i: number, files: ReadonlySet<string>): { problems: Problem[]; consumed: number } | null;
}

/** The 1-based column of a `^` under a quoted source line, when the line holds one. */
function caretColumn(line: string | undefined): number | null {
  const match = line?.match(/^(\s*)\^/);
  return match ? match[1].length + 1 : null;
}

function clip(message: string): string {
  const text = message.trim();
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text;
}

const GCC = /^([^\s:][^:]*):(\d+):(\d+): (fatal error|error|warning|note): (.*)$/;
const JAVAC = /^([^\s:][^:]*\.java):(\d+): (error|warning): (.*)$/;
/** `\tat pkg.Class.method(File.java:12)` */
const JAVA_FRAME = /^\s+at ((?:[\w$]+\.)*)([\w$<>]+)\.[\w$<>]+\(([\w$]+\.java):(\d+)\)/;
const JAVA_EXCEPTION = /^Exception in thread "[^"]*" (.*)$/;
const PYTHON_FRAME = /^\s*File "([^"]+)", line (\d+)/;
/** The last line of a traceback: `NameError: name 'x' is not defined`. */
const PYTHON_EXCEPTION = /^([A-Za-z_][\w.]*(?:Error|Exception|Warning|Exit|Interrupt)|[A-Za-z_][\w.]*)(?::\s.*)?$/;
const NODE_HEADER = /^(\/[^:]+|[^\s:/][^:]*\.[cm]?[jt]s):(\d+)$/;
const NODE_ERROR = /^(?:Uncaught )?([A-Za-z_$][\w$]*(?:Error|Exception)|Error)\b(?::\s.*)?$/;
const NODE_FRAME = /^\s+at (?:.*? \()?([^()\s]+?):(\d+):(\d+)\)?$/;
const BASH = /^([^\s:][^:]*\.(?:sh|bash)): line (\d+): (.*)$/;

function javaFile(packagePath: string, fileName: string, files: ReadonlySet<string>): string | null {
  // A class in package `a.b` comes from `a/b/File.java`; the project may
  // keep it elsewhere, so a file of that name that is the only one counts too.
  const packaged = packagePath.replace(/\./g, '/') + fileName;
  if (files.has(packaged)) return packaged;
  const named = [...files].filter((f) => f === fileName || f.endsWith(`/${fileName}`));
  return named.length === 1 ? named[0] : null;
}

const TOOLCHAINS: Toolchain[] = [
  {
    // gcc, g++ (and clang): `file:line:col: error: message`.
    name: 'gcc',
    read(lines, i, files) {
      const m = lines[i].match(GCC);
      if (!m) return null;
      const file = resolveFile(m[1], files);
      const severity: Severity = m[4] === 'warning' ? 'warning' : m[4] === 'note' ? 'info' : 'error';
      const problem = { file, line: +m[2], column: +m[3], severity, message: clip(m[5]), source: 'gcc' };
      return { problems: file ? [{ ...problem, file }] : [], consumed: 1 };
    },
  },
  {
    // javac: `File.java:12: error: message`, the source line, a caret
    // under the column, then details (`symbol: …`) indented.
    name: 'javac',
    read(lines, i, files) {
      const m = lines[i].match(JAVAC);
      if (!m) return null;
      const column = caretColumn(lines[i + 2]);
      let consumed = column === null ? 1 : 3;
      const details: string[] = [];
      while (column !== null && /^\s{2}\S.*:/.test(lines[i + consumed] ?? '')) details.push(lines[i + consumed++].trim());
      const file = resolveFile(m[1], files);
      const message = clip([m[4], ...details].join('; '));
      const severity: Severity = m[3] === 'warning' ? 'warning' : 'error';
      return { problems: file ? [{ file, line: +m[2], column, severity, message, source: 'javac' }] : [], consumed };
    },
  },
  {
    // A Java exception: `Exception in thread "main" …` then `\tat` frames;
    // the problem is at the innermost frame in the project.
    name: 'java',
    read(lines, i, files) {
      const m = lines[i].match(JAVA_EXCEPTION);
      if (!m) return null;
      let consumed = 1;
      let at: Problem | null = null;
      for (let frame: RegExpMatchArray | null; (frame = (lines[i + consumed] ?? '').match(JAVA_FRAME)); consumed++) {
        const file: string | null = at ? null : javaFile(frame[1], frame[3], files);
        if (file) at = { file, line: +frame[4], column: null, severity: 'error', message: clip(m[1]), source: 'java' };
      }
      return { problems: at ? [at] : [], consumed };
    },
  },
  {
    // Python: `Traceback (most recent call last):` and `File "x.py", line
    // N` frames (or a SyntaxError's one frame, with a caret), ended by the
    // exception's line; the problem is at the innermost frame in the project.
    name: 'python',
    read(lines, i, files) {
      const traceback = lines[i].startsWith('Traceback (most recent call last):');
      if (!traceback && !PYTHON_FRAME.test(lines[i])) return null;
      let j = traceback ? i + 1 : i;
      let at: { file: string; line: number; column: number | null } | null = null;
      for (; j < lines.length && /^\s/.test(lines[j]); j++) {
        const frame = lines[j].match(PYTHON_FRAME);
        if (!frame) continue;
        const file = resolveFile(frame[1], files);
        // A syntax error's caret is under the code as Python re-indents it,
        // not as the file has it: the line is certain, the column is not.
        at = file ? { file, line: +frame[2], column: null } : at;
      }
      const last = lines[j] ?? '';
      if (j === i || !PYTHON_EXCEPTION.test(last)) return null;
      const problems: Problem[] = at ? [{ ...at, severity: 'error', message: clip(last), source: 'python' }] : [];
      return { problems, consumed: j - i + 1 };
    },
  },
  {
    // Node: an uncaught error prints `path:line`, the source line, a caret,
    // a blank line and `TypeError: message`, then its stack; a syntax error
    // the same without user frames. Where the header is not the project's
    // (a module that failed inside Node), the first project frame is used.
    name: 'node',
    read(lines, i, files) {
      const m = lines[i].match(NODE_HEADER);
      if (!m) return null;
      let j = i + 1;
      while (j < lines.length && j < i + 5 && !NODE_ERROR.test(lines[j])) j++;
      if (!NODE_ERROR.test(lines[j] ?? '')) return null;
      const message = clip(lines[j]);
      let at: Problem | null = null;
      const header = resolveFile(m[1], files);
      if (header) at = { file: header, line: +m[2], column: caretColumn(lines[i + 2]), severity: 'error', message, source: 'node' };
      let k = j + 1;
      for (let frame: RegExpMatchArray | null; (frame = (lines[k] ?? '').match(NODE_FRAME)); k++) {
        const file: string | null = at ? null : resolveFile(frame[1], files);
        if (file) at = { file, line: +frame[2], column: +frame[3], severity: 'error', message, source: 'node' };
      }
      return { problems: at ? [at] : [], consumed: k - i };
    },
  },
  {
    // bash: `x.sh: line N: message`; a syntax error repeats the line
    // (`` x.sh: line N: `fi' ``), which is not a problem of its own.
    name: 'bash',
    read(lines, i, files) {
      const m = lines[i].match(BASH);
      if (!m) return null;
      const file = resolveFile(m[1], files);
      const echo = /^`.*'$/.test(m[3]);
      const problems: Problem[] =
        file && !echo ? [{ file, line: +m[2], column: null, severity: 'error', message: clip(m[3]), source: 'bash' }] : [];
      return { problems, consumed: 1 };
    },
  },
];

/** Terminal control sequences (colours, cursor moves) and carriage returns. */
// eslint-disable-next-line no-control-regex
const CONTROL = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\r/g;

export function plainText(output: string): string {
  return output.replace(CONTROL, '');
}

/** Every problem in a run's output (plain or with terminal colours), in order, without repeats. */
export function parseProblems(output: string, files: ReadonlySet<string>): Problem[] {
  const lines = plainText(output).split('\n');
  const problems: Problem[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < lines.length && problems.length < MAX_PROBLEMS; ) {
    let consumed = 1;
    for (const toolchain of TOOLCHAINS) {
      const found = toolchain.read(lines, i, files);
      if (!found) continue;
      consumed = Math.max(1, found.consumed);
      for (const p of found.problems) {
        const key = `${p.file}:${p.line}:${p.column}:${p.message}`;
        if (!seen.has(key)) problems.push(p);
        seen.add(key);
      }
      break;
    }
    i += consumed;
  }
  return problems.slice(0, MAX_PROBLEMS);
}

/**
 * Locations a console line mentions, in the forms the toolchains above
 * print them: `file:line[:col]` (gcc, javac, Node), `File "file", line N`
 * (Python), `file: line N` (bash), `(File.java:N)` (Java). Only project
 * files count.
 */
export function findLocations(line: string, files: ReadonlySet<string>): Location[] {
  const found: Location[] = [];
  const add = (start: number, text: string, raw: string, lineNo: string, column?: string) => {
    const file = resolveFile(raw, files);
    if (file) found.push({ start, end: start + text.length, file, line: +lineNo, column: column ? +column : null });
  };
  for (const m of line.matchAll(/File "([^"]+)", line (\d+)/g)) add(m.index, m[0], m[1], m[2]);
  for (const m of line.matchAll(/([^\s:"'`(),]+\.(?:sh|bash)): line (\d+)/g)) add(m.index, m[0], m[1], m[2]);
  for (const m of line.matchAll(/(?:^|(?<=[\s('"]))([^\s:"'`(),]+):(\d+)(?::(\d+))?/g)) add(m.index, m[0], m[1], m[2], m[3]);
  for (const m of line.matchAll(/\(([\w$]+\.java):(\d+)\)/g)) {
    const qualified = line.slice(0, m.index).match(/at ((?:[\w$]+\.)*)[\w$<>]+\.[\w$<>]+$/);
    const file = javaFile(qualified?.[1] ?? '', m[1], files);
    if (file) found.push({ start: m.index + 1, end: m.index + m[0].length - 1, file, line: +m[2], column: null });
  }
  return found.sort((a, b) => a.start - b.start);
}

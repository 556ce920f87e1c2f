// The error parsers on real output: each fixture was printed by the real
// compiler or interpreter (test/fixtures/problems/regenerate.sh makes them
// again), for the project files listed with it.

import { describe, expect, it } from 'vitest';
import { findLocations, parseProblems, plainText, resolveFile } from '../src/problems/parse';
import gcc from './fixtures/problems/gcc.txt?raw';
import gpp from './fixtures/problems/gpp.txt?raw';
import javac from './fixtures/problems/javac.txt?raw';
import javacSyntax from './fixtures/problems/javac-syntax.txt?raw';
import javaException from './fixtures/problems/java-exception.txt?raw';
import pythonTraceback from './fixtures/problems/python-traceback.txt?raw';
import pythonSyntax from './fixtures/problems/python-syntax.txt?raw';
import nodeError from './fixtures/problems/node-error.txt?raw';
import nodeSyntax from './fixtures/problems/node-syntax.txt?raw';
import bash from './fixtures/problems/bash.txt?raw';

const files = (...paths: string[]) => new Set(paths);
/** As a console receives it: through a terminal, lines end in CR LF. */
const throughTerminal = (text: string) => text.replace(/\n/g, '\r\n');

describe('parseProblems on real output', () => {
  it('gcc: errors in a header and the source, a note and a warning', () => {
    const problems = parseProblems(gcc, files('main.c', 'lib/util.h'));
    expect(problems.map((p) => [p.file, p.line, p.column, p.severity])).toEqual([
      ['lib/util.h', 2, 17, 'error'],
      ['main.c', 6, 26, 'error'],
      ['main.c', 6, 26, 'info'],
      ['main.c', 5, 9, 'warning'],
    ]);
    expect(problems[0].message).toBe('expected ‘;’ before ‘}’ token');
    expect(problems[3].message).toBe('unused variable ‘unused’ [-Wunused-variable]');
  });

  it('g++: two errors with their columns', () => {
    const problems = parseProblems(throughTerminal(gpp), files('main.cpp'));
    expect(problems.map((p) => [p.file, p.line, p.column])).toEqual([
      ['main.cpp', 5, 24],
      ['main.cpp', 6, 18],
    ]);
    expect(problems[1].message).toBe('‘greet’ was not declared in this scope');
  });

  it('javac: the column from the caret, the symbol from the details', () => {
    const problems = parseProblems(javac, files('Main.java', 'util/Helper.java'));
    expect(problems).toEqual([
      {
        file: 'Main.java',
        line: 6,
        column: 23,
        severity: 'error',
        message: 'incompatible types: int cannot be converted to String',
        source: 'javac',
      },
      {
        file: 'Main.java',
        line: 7,
        column: 28,
        severity: 'error',
        message: 'cannot find symbol; symbol:   variable txt; location: class Main',
        source: 'javac',
      },
    ]);
    expect(parseProblems(javacSyntax, files('Main.java'))).toMatchObject([
      { file: 'Main.java', line: 3, column: 36, message: "';' expected" },
    ]);
  });

  it('Java: an exception points at the innermost frame of the project, in its package folder', () => {
    expect(parseProblems(javaException, files('Main.java', 'util/Helper.java'))).toEqual([
      {
        file: 'util/Helper.java',
        line: 5,
        column: null,
        severity: 'error',
        message: 'java.lang.ArithmeticException: / by zero',
        source: 'java',
      },
    ]);
  });

  it('Python: a traceback points at its innermost project frame', () => {
    const problems = parseProblems(throughTerminal(pythonTraceback), files('main.py', 'geometry/__init__.py', 'geometry/shapes.py'));
    expect(problems).toEqual([
      {
        file: 'geometry/shapes.py',
        line: 2,
        column: null,
        severity: 'error',
        message: 'ZeroDivisionError: division by zero',
        source: 'python',
      },
    ]);
  });

  it('Python: a syntax error', () => {
    expect(parseProblems(pythonSyntax, files('main.py'))).toMatchObject([
      { file: 'main.py', line: 2, message: "SyntaxError: '(' was never closed" },
    ]);
  });

  it('Node: an uncaught error at the header, with its caret column', () => {
    expect(parseProblems(nodeError, files('main.js', 'lib/greet.js'))).toEqual([
      {
        file: 'lib/greet.js',
        line: 1,
        column: 42,
        severity: 'error',
        message: "TypeError: Cannot read properties of undefined (reading 'toUpperCase')",
        source: 'node',
      },
    ]);
  });

  it('Node: where the header is not in the project, the first project frame', () => {
    // The same output, as if the failing line were in a module the project does not have.
    expect(parseProblems(nodeError, files('main.js'))).toMatchObject([{ file: 'main.js', line: 4, column: 13 }]);
  });

  it('Node: a syntax error', () => {
    expect(parseProblems(nodeSyntax, files('main.js'))).toMatchObject([
      { file: 'main.js', line: 2, column: 24, message: "SyntaxError: Unexpected token '{'" },
    ]);
  });

  it('bash: a missing command and a syntax error, without the echoed line', () => {
    expect(parseProblems(bash, files('main.sh')).map((p) => [p.line, p.message])).toEqual([
      [2, 'greet: command not found'],
      [5, 'syntax error near unexpected token `fi\''],
    ]);
  });

  it('only project files: the same output for a project without those files gives nothing', () => {
    for (const output of [gcc, gpp, javac, javaException, pythonTraceback, nodeError, bash]) {
      expect(parseProblems(output, files('other.txt'))).toEqual([]);
    }
  });
});

describe('paths and text', () => {
  it('resolves paths relative to the workspace or absolute inside it, nothing else', () => {
    const project = files('main.py', 'lib/a.py');
    expect(resolveFile('/workspace/lib/a.py', project)).toBe('lib/a.py');
    expect(resolveFile('./main.py', project)).toBe('main.py');
    expect(resolveFile('/usr/lib/python3.11/lib/a.py', project)).toBeNull();
    expect(resolveFile('node:internal/main', project)).toBeNull();
  });

  it('drops terminal colours (gcc in a terminal colours its messages)', () => {
    const coloured = '\x1b[01m\x1b[Kmain.c:3:5:\x1b[m\x1b[K \x1b[01;31m\x1b[Kerror: \x1b[m\x1b[Kboom\r\n';
    expect(plainText(coloured)).toBe('main.c:3:5: error: boom\n');
    expect(parseProblems(coloured, files('main.c'))).toMatchObject([{ file: 'main.c', line: 3, column: 5, message: 'boom' }]);
  });

  it('keeps a flood of fake problems bounded', () => {
    const flood = 'main.c:1:1: error: x\n'.repeat(10).concat(
      Array.from({ length: 1000 }, (_, i) => `main.c:${i + 2}:1: error: y`).join('\n'),
    );
    expect(parseProblems(flood, files('main.c'))).toHaveLength(200);
  });
});

describe('findLocations in console lines', () => {
  const project = files('main.c', 'main.py', 'main.sh', 'lib/greet.js', 'util/Helper.java', 'Main.java');
  const link = (line: string) => findLocations(line, project).map((l) => [line.slice(l.start, l.end), l.file, l.line, l.column]);

  it('finds each toolchain’s form of a location', () => {
    expect(link('main.c:6:26: error: ‘count’ undeclared')).toEqual([['main.c:6:26', 'main.c', 6, 26]]);
    expect(link('  File "/workspace/main.py", line 4, in <module>')).toEqual([
      ['File "/workspace/main.py", line 4', 'main.py', 4, null],
    ]);
    expect(link('main.sh: line 2: greet: command not found')).toEqual([['main.sh: line 2', 'main.sh', 2, null]]);
    expect(link('    at exports.greet (/workspace/lib/greet.js:1:42)')).toEqual([
      ['/workspace/lib/greet.js:1:42', 'lib/greet.js', 1, 42],
    ]);
    expect(link('\tat util.Helper.divide(Helper.java:5)')).toEqual([['Helper.java:5', 'util/Helper.java', 5, null]]);
    expect(link('Main.java:6: error: incompatible types')).toEqual([['Main.java:6', 'Main.java', 6, null]]);
  });

  it('ignores paths outside the project and plain text', () => {
    expect(link('    at Module._compile (node:internal/modules/cjs/loader:1521:14)')).toEqual([]);
    expect(link('Total: 3:4 ratio, main.c is fine')).toEqual([]);
  });
});

// Project-wide search and replace (issue 17).
import { describe, expect, it } from 'vitest';
import { MAX_MATCHES, replaceInProject, revertReplace, searchProject } from '../src/store/search';
import { editFile, makeProject } from '../src/store/project';

const plain = { caseSensitive: false, regex: false, wholeWord: false };
const project = () =>
  makeProject('p', {
    'main.py': 'from util import total\nprint(total([1, 2]))\n',
    'util.py': 'def total(xs):\n    return sum(xs)  # Total of xs\n',
    'notes.txt': 'a.b a+b\n',
  });

describe('project search', () => {
  it('finds every match with its file, line and column, drafts included', () => {
    const p = editFile(project(), 'notes.txt', 'total\n');
    const { matches, error } = searchProject(p, 'total', plain);
    expect(error).toBeNull();
    expect(matches.map((m) => `${m.path}:${m.line}:${m.column}`)).toEqual([
      'main.py:1:18',
      'main.py:2:7',
      'notes.txt:1:1',
      'util.py:1:5',
      'util.py:2:23',
    ]);
    expect(matches[1]).toMatchObject({ preview: 'print(total([1, 2]))', previewAt: 6 });
    // Indentation is left out, and the match is still found in the preview.
    const indented = matches[4];
    expect(indented.preview.slice(indented.previewAt, indented.previewAt + indented.length)).toBe('Total');
    expect(indented.preview.startsWith('return')).toBe(true);
    expect(searchProject(p, 'total', { ...plain, caseSensitive: true }).matches).toHaveLength(4);
  });

  it('takes text literally unless asked for a regular expression, and says what is wrong with one', () => {
    expect(searchProject(project(), 'a+b', plain).matches.map((m) => m.column)).toEqual([5]);
    expect(searchProject(project(), 'a.b', { ...plain, regex: true }).matches.map((m) => m.column)).toEqual([1, 5]);
    expect(searchProject(project(), 'tot', { ...plain, wholeWord: true }).matches).toEqual([]);
    const broken = searchProject(project(), 'total(', { ...plain, regex: true });
    expect(broken.matches).toEqual([]);
    expect(broken.error).toMatch(/regular expression|Unterminated|unterminated/i);
    // An expression that matches empty text ends.
    expect(searchProject(project(), 'x*', { ...plain, regex: true }).matches.map((m) => m.path)).toEqual(['util.py', 'util.py', 'util.py']);
  });

  it('shows a window of a long line around its match', () => {
    const line = `${'a'.repeat(500)}needle${'b'.repeat(500)}`;
    const [match] = searchProject(makeProject('p', { 'long.txt': line }), 'needle', plain).matches;
    expect(match.preview.length).toBeLessThan(200);
    expect(match.preview.startsWith('…') && match.preview.endsWith('…')).toBe(true);
    expect(match.preview.slice(match.previewAt, match.previewAt + 6)).toBe('needle');
  });

  it('skips binary files and stops listing at a bound', () => {
    const p = makeProject('p', { 'big.txt': 'x '.repeat(MAX_MATCHES + 5) });
    p.files['blob.bin'] = { content: 'eHh4', base64: true };
    const result = searchProject(p, 'x', plain);
    expect(result.matches).toHaveLength(MAX_MATCHES);
    expect(result.truncated).toBe(true);
    expect(result.matches.every((m) => m.path === 'big.txt')).toBe(true);
  });
});

describe('project replace', () => {
  it('replaces as drafts, literally or with groups, in the files asked', () => {
    const literal = replaceInProject(project(), 'total', '$1 sum', plain);
    expect(literal.replaced).toBe(4);
    expect(literal.project.drafts['main.py']).toBe('from util import $1 sum\nprint($1 sum([1, 2]))\n');
    expect(literal.project.files['main.py'].content).toMatch(/total/);

    const grouped = replaceInProject(project(), '(?<name>\\w+)\\(xs\\)', '$<name>_of($&, $$)', { ...plain, regex: true, caseSensitive: true });
    expect(grouped.project.drafts['util.py']).toBe('def total_of(total(xs), $):\n    return sum_of(sum(xs), $)  # Total of xs\n');
    const numbered = replaceInProject(project(), 'from (\\w+) import (\\w+)', 'from $1 import $2 as t$3', { ...plain, regex: true });
    expect(numbered.project.drafts['main.py']).toMatch(/^from util import total as t\$3\n/);

    const only = replaceInProject(project(), 'total', 'sum', plain, ['util.py']);
    expect(Object.keys(only.project.drafts)).toEqual(['util.py']);
    expect(replaceInProject(project(), 'nothing here', 'x', plain).replaced).toBe(0);
  });

  it('undoes a Replace all, unless a replaced file was edited since', () => {
    const before = editFile(project(), 'notes.txt', 'total draft\n');
    const { project: after, changed } = replaceInProject(before, 'total', 'sum', plain);
    expect(Object.keys(changed).sort()).toEqual(['main.py', 'notes.txt', 'util.py']);
    const undone = revertReplace(after, changed);
    for (const path of Object.keys(before.files)) expect(undone.drafts[path]).toBe(before.drafts[path]);
    expect(undone.drafts['notes.txt']).toBe('total draft\n');
    const edited = editFile(after, 'util.py', 'something else\n');
    expect(() => revertReplace(edited, changed)).toThrow(/util.py has changed/);
  });
});

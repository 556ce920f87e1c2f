/// <reference types="node" />
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import jupyterlabNotebook from './fixtures/notebooks/jupyterlab.ipynb?raw';
import {
  emptyNotebook,
  newCell,
  parseNotebook,
  serializeNotebook,
  splitLines,
  joinText,
  NotebookParseError,
  type Cell,
  type Notebook,
} from '../src/notebook/model';
import { applyControlCharacters, applyOutputMessage, boundStream, updateDisplays, type OutputState } from '../src/notebook/outputs';


/**
 * Validates notebook JSON with Debian's python3-nbformat (the real schema,
 * `nbformat.validate`), and checks that nbformat's own writer gives the
 * same text back. Installed by scripts/lib.sh (`ensure_notebook_packages`);
 * a missing one fails the test.
 */
function nbformatCheck(text: string): { valid: boolean; rewritten: string; error: string } {
  const script = [
    'import io, sys, nbformat',
    'src = sys.stdin.read()',
    'nb = nbformat.reads(src, as_version=nbformat.NO_CONVERT)',
    'nbformat.validate(nb)',
    'out = io.StringIO()',
    'nbformat.write(nb, out)',
    'sys.stdout.write(out.getvalue())',
  ].join('\n');
  // Debian's interpreter, where the package is (not whatever python3 is first on PATH).
  const run = spawnSync('/usr/bin/python3', ['-c', script], { input: text, encoding: 'utf8' });
  if (run.error || /No module named .?nbformat/.test(run.stderr)) {
    throw new Error(
      'python3-nbformat is missing: install it (scripts/lib.sh ensure_notebook_packages) to validate saved notebooks',
    );
  }
  return { valid: run.status === 0, rewritten: run.stdout, error: run.stderr };
}

function state(outputs: OutputState['outputs'] = []): OutputState {
  return { outputs, clearPending: false };
}

/** Applies messages in turn, skipping those that change nothing. */
function feed(messages: [string, Record<string, unknown>][], start = state()): OutputState {
  return messages.reduce((s, [type, content]) => applyOutputMessage(s, type, content) ?? s, start);
}

describe('notebook model', () => {
  it('round-trips a notebook written by JupyterLab byte for byte', () => {
    const text = jupyterlabNotebook;
    const notebook = parseNotebook(text);
    expect(notebook.cells.map((c) => c.type)).toEqual(['markdown', 'code', 'code', 'code', 'raw', 'code']);
    expect(notebook.cells[0].source).toBe('# Café sales — a look\n\nA dot: ![dot](attachment:dot.png)');
    expect(notebook.cells[0].rest.attachments).toBeTruthy();
    expect(notebook.cells[1].executionCount).toBe(1);
    expect(notebook.cells[5].source).toBe('');
    expect(serializeNotebook(notebook)).toBe(text);
  });

  it('keeps unknown keys, unknown output types and cell keys that do not belong', () => {
    const text = JSON.stringify({
      cells: [
        {
          cell_type: 'code',
          execution_count: 4,
          metadata: { vendor: { x: [1, { b: 2, a: 1 }] } },
          outputs: [{ output_type: 'some_future_output', payload: { z: 1, a: [true, null] } }],
          source: 'x = 1\ny = 2\n',
          future_cell_key: 'kept',
        },
        { cell_type: 'markdown', metadata: {}, source: ['hi'], outputs: [], execution_count: 3 },
      ],
      metadata: {},
      nbformat: 4,
      nbformat_minor: 4,
      future_top_key: { b: 1, a: 2 },
    });
    const saved = JSON.parse(serializeNotebook(parseNotebook(text)));
    const original = JSON.parse(text);
    // The same keys and values; only `source` became a list of lines.
    original.cells[0].source = ['x = 1\n', 'y = 2\n'];
    expect(saved).toEqual(original);
    // Sorted as Python sorts them.
    expect(Object.keys(saved)).toEqual(['cells', 'future_top_key', 'metadata', 'nbformat', 'nbformat_minor']);
  });

  it('splits lines as Python does and joins them back', () => {
    expect(splitLines('a\nb\r\nc\rd')).toEqual(['a\n', 'b\r\n', 'c\r', 'd']);
    expect(splitLines('a\n')).toEqual(['a\n']);
    expect(splitLines('')).toEqual([]);
    expect(splitLines('x\u2028y\fz')).toEqual(['x\u2028', 'y\f', 'z']);
    expect(joinText(['a\n', 'b'])).toBe('a\nb');
    expect(joinText('as is')).toBe('as is');
  });

  it('refuses what is not an nbformat 4 notebook, saying why', () => {
    expect(() => parseNotebook('{')).toThrow(NotebookParseError);
    expect(() => parseNotebook('{"nbformat": 3, "worksheets": []}')).toThrow(/nbformat 3/);
    expect(() => parseNotebook('{"nbformat": 4, "cells": [{"cell_type": "widget"}]}')).toThrow(/unknown type/);
    // An empty file is a new notebook.
    expect(parseNotebook('').cells).toHaveLength(1);
  });

  it('saves notebooks the real nbformat schema accepts, and nbformat rewrites them unchanged', () => {
    // The fixture itself, as JupyterLab wrote it.
    const lab = nbformatCheck(jupyterlabNotebook);
    expect(lab.error).toBe('');
    expect(lab.valid).toBe(true);

    // A notebook made here, with every kind of output the kernel gives.
    const notebook = emptyNotebook();
    const code = notebook.cells[0];
    code.source = "print('hi')\ndf\n";
    const outputs = feed([
      ['stream', { name: 'stdout', text: 'hi\n' }],
      ['stream', { name: 'stderr', text: 'careful\n' }],
      ['execute_result', { data: { 'text/plain': 'a\nb', 'text/html': '<b>x</b>\n<i>y</i>' }, metadata: {}, execution_count: 1 }],
      ['display_data', { data: { 'image/png': 'iVBORw0KGgo=\n', 'image/svg+xml': '<svg>\n</svg>', 'application/json': { a: [1] } }, metadata: { 'image/png': { width: 3 } }, transient: { display_id: 'd1' } }],
      ['error', { ename: 'ValueError', evalue: 'bad', traceback: ['\x1b[0;31mValueError\x1b[0m: bad'] }],
    ]);
    code.outputs = outputs.outputs;
    code.executionCount = 1;
    notebook.cells.push(newCell('markdown', 5, '# Title\n\ntext'), newCell('raw', 5, 'raw'));
    const text = serializeNotebook(notebook);
    const check = nbformatCheck(text);
    expect(check.error).toBe('');
    expect(check.valid).toBe(true);
    expect(check.rewritten).toBe(text);

    // nbformat 4.4 has no cell ids; new cells there get none and still validate.
    const old = parseNotebook(JSON.stringify({ cells: [], metadata: {}, nbformat: 4, nbformat_minor: 4 }));
    old.cells.push(newCell('code', 4, '1+1'));
    expect(nbformatCheck(serializeNotebook(old)).valid).toBe(true);

    // What the schema refuses is seen as refused (the check is not a yes-machine).
    const broken = JSON.parse(text);
    broken.cells[0].outputs.push({ output_type: 'stream', name: 'stdout' });
    expect(nbformatCheck(JSON.stringify(broken)).valid).toBe(false);
  });
});

describe('notebook outputs', () => {
  it('merges a stream into its last output, per stream', () => {
    const s = feed([
      ['stream', { name: 'stdout', text: 'a' }],
      ['stream', { name: 'stdout', text: 'b\nc\n' }],
      ['stream', { name: 'stderr', text: 'oops\n' }],
      ['stream', { name: 'stdout', text: 'd\n' }],
    ]);
    expect(s.outputs.map((o) => o.json)).toEqual([
      { output_type: 'stream', name: 'stdout', text: ['ab\n', 'c\n'] },
      { output_type: 'stream', name: 'stderr', text: ['oops\n'] },
      { output_type: 'stream', name: 'stdout', text: ['d\n'] },
    ]);
  });

  it('applies carriage returns and backspaces as a progress bar expects', () => {
    expect(applyControlCharacters('10%\r20%\r30%')).toBe('30%');
    expect(applyControlCharacters('done\nx\r\ny')).toBe('done\nx\ny');
    expect(applyControlCharacters('abc\b\bd')).toBe('ad');
    expect(applyControlCharacters('keep\r')).toBe('keep\r');
    const bar = feed([
      ['stream', { name: 'stderr', text: '\r  0%|     |' }],
      ['stream', { name: 'stderr', text: '\r 50%|##   |' }],
      ['stream', { name: 'stderr', text: '\r100%|#####|' }],
      ['stream', { name: 'stderr', text: '\n' }],
    ]);
    expect(joinText(bar.outputs[0].json.text)).toBe('100%|#####|\n');
    // A `\r` at a chunk's end waits for its `\n`.
    const crlf = feed([
      ['stream', { name: 'stdout', text: 'line\r' }],
      ['stream', { name: 'stdout', text: '\nnext' }],
    ]);
    expect(joinText(crlf.outputs[0].json.text)).toBe('line\nnext');
  });

  it('keeps the last megabyte of a stream that never ends, saying how much went before', () => {
    expect(boundStream('a\nbb\ncc\n', 6)).toBe('[2 earlier characters not kept]\nbb\ncc\n');
    // Cut again: the count goes on.
    expect(boundStream('[2 earlier characters not kept]\nbb\ncc\ndd\n', 6)).toBe('[5 earlier characters not kept]\ncc\ndd\n');
    const line = 'x'.repeat(99) + '\n';
    let s = state();
    for (let i = 0; i < 30; i++) s = applyOutputMessage(s, 'stream', { name: 'stdout', text: line.repeat(1000) })!;
    const text = joinText(s.outputs[0].json.text);
    expect(text.length).toBeLessThanOrEqual(1_000_100);
    expect(text).toMatch(/^\[2000000 earlier characters not kept\]\n/);
  });

  it('keeps results and displays in nbformat form, and errors with their traceback', () => {
    const s = feed([
      ['status', { execution_state: 'busy' }],
      ['execute_result', { data: { 'text/plain': '42' }, metadata: {}, execution_count: 7 }],
      ['display_data', { data: { 'text/markdown': '# hi\nthere' }, metadata: {} }],
      ['error', { ename: 'KeyboardInterrupt', evalue: '', traceback: ['a', 'b'] }],
    ]);
    expect(s.outputs.map((o) => o.json)).toEqual([
      { output_type: 'execute_result', data: { 'text/plain': ['42'] }, metadata: {}, execution_count: 7 },
      { output_type: 'display_data', data: { 'text/markdown': ['# hi\n', 'there'] }, metadata: {} },
      { output_type: 'error', ename: 'KeyboardInterrupt', evalue: '', traceback: ['a', 'b'] },
    ]);
    // Messages that are not outputs, and malformed ones, change nothing.
    expect(applyOutputMessage(s, 'status', { execution_state: 'idle' })).toBeNull();
    expect(applyOutputMessage(s, 'display_data', { data: 'nope' })).toBeNull();
  });

  it('clears at once, or with wait just before the next output', () => {
    const start = feed([['stream', { name: 'stdout', text: 'old\n' }]]);
    expect(applyOutputMessage(start, 'clear_output', { wait: false })!.outputs).toEqual([]);
    const waiting = applyOutputMessage(start, 'clear_output', { wait: true })!;
    expect(waiting.outputs).toHaveLength(1);
    const after = applyOutputMessage(waiting, 'stream', { name: 'stdout', text: 'new\n' })!;
    expect(after.outputs.map((o) => o.json.text)).toEqual([['new\n']]);
    expect(after.clearPending).toBe(false);
  });

  it('updates displays by their id in every cell', () => {
    const notebook: Notebook = emptyNotebook();
    const shown = feed([['display_data', { data: { 'text/plain': 'v1' }, metadata: {}, transient: { display_id: 'progress' } }]]);
    const other = feed([['display_data', { data: { 'text/plain': 'other' }, metadata: {}, transient: { display_id: 'x' } }]]);
    const second: Cell = { ...newCell('code', 5), outputs: [...shown.outputs, ...other.outputs] };
    notebook.cells = [{ ...notebook.cells[0], outputs: shown.outputs }, second];
    const updated = updateDisplays(notebook, { data: { 'text/plain': 'v2' }, metadata: {}, transient: { display_id: 'progress' } });
    expect(updated.cells[0].outputs[0].json.data).toEqual({ 'text/plain': ['v2'] });
    expect(updated.cells[1].outputs.map((o) => o.json.data)).toEqual([{ 'text/plain': ['v2'] }, { 'text/plain': ['other'] }]);
    // Unknown ids leave the notebook as it was.
    expect(updateDisplays(updated, { data: {}, transient: { display_id: 'none' } })).toBe(updated);
    // The display id is not saved.
    expect(serializeNotebook(updated)).not.toContain('progress');
  });
});

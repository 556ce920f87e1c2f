// How the pickers offer the server's languages (issue 17).
import { describe, expect, it } from 'vitest';
import { languageChoice, languageOfPath } from '../src/languages';

describe('language pickers', () => {
  const runtime = { id: 'go', name: 'Go', aliases: [], extensions: ['go'], available: false, version: null };
  it('disable a language that is not installed and say why', () => {
    const reason = '`go` is not installed on this server; Go needs it';
    expect(languageChoice({ ...runtime, reason })).toEqual({ label: `Go — unavailable: ${reason}`, disabled: true, title: reason });
    expect(languageChoice({ ...runtime, reason: null }).label).toBe('Go — unavailable: its tools are missing');
    expect(languageChoice({ ...runtime, available: true, version: '1.22' })).toEqual({ label: 'Go', disabled: false });
  });
});

describe('the language of a file', () => {
  // In the server's order: the SQL servers list `sql` too, after SQLite,
  // but a `.sql` file is SQLite's unless a run names another.
  const runtime = (id: string, extensions: string[], named_only = false) =>
    ({ id, name: id, aliases: [], extensions, available: true, named_only });
  it('never picks a language that is picked by name only', () => {
    const languages = [runtime('mysql', ['sql'], true), runtime('sqlite', ['sql']), runtime('python', ['py'])];
    expect(languageOfPath(languages, 'db/schema.sql')?.id).toBe('sqlite');
    expect(languageOfPath(languages, 'main.py')?.id).toBe('python');
    expect(languageOfPath([runtime('postgresql', ['sql'], true)], 'q.sql')).toBeNull();
  });
});

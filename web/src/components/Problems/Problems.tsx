// The Problems panel: the errors and warnings read from the active
// console's run, each a button that opens its file at its line. Messages
// come from the boxed program's output: they are shown as text only.

import { useState } from 'react';
import type { Problem } from '../../problems/parse';
import { Icon } from '../Icons/Icon';

export interface SourceLocation {
  file: string;
  line: number;
  column: number | null;
}

export function locationText({ file, line, column }: SourceLocation): string {
  return column === null ? `${file}:${line}` : `${file}:${line}:${column}`;
}

const SEVERITY_WORDS = { error: 'Error', warning: 'Warning', info: 'Note' } as const;

export function Problems({ problems, onJump }: { problems: Problem[]; onJump: (at: SourceLocation) => void }) {
  const [open, setOpen] = useState(true);
  if (!problems.length) return null;
  const errors = problems.filter((p) => p.severity === 'error').length;
  const warnings = problems.filter((p) => p.severity === 'warning').length;
  const summary = [errors && `${errors} error${errors > 1 ? 's' : ''}`, warnings && `${warnings} warning${warnings > 1 ? 's' : ''}`]
    .filter(Boolean)
    .join(', ');
  return (
    <section className="problems" aria-label="Problems">
      <button type="button" className="problems-toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
        <Icon name={open ? 'chevronDown' : 'chevronRight'} /> Problems ({problems.length}){summary ? `: ${summary}` : ''}
      </button>
      {open && (
        <ul className="problems-list">
          {problems.map((p, i) => (
            <li key={i}>
              <button
                type="button"
                className={`problem ${p.severity}`}
                title={`Go to ${locationText(p)}`}
                onClick={() => onJump(p)}
              >
                <span className="problem-severity">{SEVERITY_WORDS[p.severity]}</span>
                <span className="problem-location">{locationText(p)}</span>
                <span className="problem-message">{p.message}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

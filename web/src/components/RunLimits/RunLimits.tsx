// "Limits" in the status bar: the limits a run gets on this server, for
// this caller (a guest or a user's plan), before one starts. The figures
// are the `default_limits` of the server's `hello` (docs/protocol.md).

import { useCallback, useRef, useState } from 'react';
import type { ConsolesStore } from '../../store/consoles';
import { useCloseOnOutsidePointer, useStoreValue } from '../../hooks';
import { limitLines, limitsSummary } from './limits';

export function RunLimits({ consoles }: { consoles: ConsolesStore }) {
  const limits = useStoreValue(consoles, (s) => s.limits);
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLSpanElement>(null);
  const close = useCallback(() => setOpen(false), []);
  useCloseOnOutsidePointer(open, box, close);
  if (!limits) return null;
  const lines = limitLines(limits);
  if (!lines.length) return null;
  return (
    <span
      className="run-limits"
      ref={box}
      onKeyDown={(e) => {
        if (e.key === 'Escape' && open) {
          e.stopPropagation();
          setOpen(false);
        }
      }}
    >
      <button
        type="button"
        className="link"
        aria-expanded={open}
        aria-haspopup="dialog"
        title={`Each run: ${limitsSummary(limits)}`}
        onClick={() => setOpen((v) => !v)}
      >
        Limits
      </button>
      {open && (
        <div className="run-limits-popover" role="dialog" aria-label="Limits of a run">
          <p>Each run on this server may use at most:</p>
          <dl>
            {lines.map((l) => (
              <div key={l.name} title={l.about}>
                <dt>{l.value}</dt>
                <dd>{l.name}</dd>
              </div>
            ))}
          </dl>
          <p className="muted-note">Waiting for input does not count towards the wall time; a warning comes before the input wait runs out.</p>
        </div>
      )}
    </span>
  );
}

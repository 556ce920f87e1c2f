// The offer to import the browser's (guest) projects into the account.

import { useEffect, useState } from 'react';
import { ProjectDb, type ProjectSummary } from '../../store/db';
import type { ServerWorkspaceStore } from '../../store/remote';
import { Modal } from '../Dialogs/Dialogs';
import { messageOf } from './format';

/**
 * Offers to copy the browser's (guest) projects into the account. The
 * browser's copies stay unless the user ticks "delete".
 */
export function ImportDialog({ workspace, onClose }: { workspace: ServerWorkspaceStore; onClose: () => void }) {
  const [db] = useState(() => new ProjectDb());
  const [list, setList] = useState<ProjectSummary[] | null>(null);
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [removeLocal, setRemoveLocal] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<number | null>(null);

  useEffect(() => {
    db.list().then(
      (l) => {
        setList(l);
        setChosen(new Set(l.map((p) => p.id)));
      },
      (e: unknown) => setError(messageOf(e)),
    );
  }, [db]);

  if (list === null && !error) return null;
  return (
    <Modal title="Import projects from this browser" onClose={onClose} className="import-dialog">
      {done !== null ? (
        <>
          <p role="status">
            Imported {done} project{done === 1 ? '' : 's'} into your account.
          </p>
          <div className="dialog-buttons">
            <button type="button" className="primary" onClick={onClose}>
              Done
            </button>
          </div>
        </>
      ) : list && list.length ? (
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            setBusy(true);
            setError(null);
            let n = 0;
            try {
              for (const summary of list.filter((p) => chosen.has(p.id))) {
                const project = await db.get(summary.id);
                if (!project) continue;
                await workspace.importProjects([project]);
                n++;
                if (removeLocal) await db.delete(summary.id);
              }
              setDone(n);
            } catch (err) {
              setError(`${n ? `Imported ${n}, then: ` : ''}${messageOf(err)}`);
            }
            setBusy(false);
          }}
        >
          <p>This browser has projects you made without an account. Copy them into your account?</p>
          <ul className="import-list">
            {list.map((p) => (
              <li key={p.id}>
                <label>
                  <input
                    type="checkbox"
                    checked={chosen.has(p.id)}
                    onChange={(e) => {
                      const next = new Set(chosen);
                      if (e.target.checked) next.add(p.id);
                      else next.delete(p.id);
                      setChosen(next);
                    }}
                  />{' '}
                  {p.name} <span className="muted">({p.files} files)</span>
                </label>
              </li>
            ))}
          </ul>
          <label>
            <input type="checkbox" checked={removeLocal} onChange={(e) => setRemoveLocal(e.target.checked)} /> Delete them from this browser once
            imported
          </label>
          {error && (
            <p className="form-error" role="alert">
              {error}
            </p>
          )}
          <div className="dialog-buttons">
            <button type="button" onClick={onClose}>
              Not now
            </button>
            <button type="submit" className="primary" disabled={busy || chosen.size === 0}>
              Import {chosen.size} project{chosen.size === 1 ? '' : 's'}
            </button>
          </div>
        </form>
      ) : (
        <>
          <p>{error ?? 'This browser has no projects to import.'}</p>
          <div className="dialog-buttons">
            <button type="button" onClick={onClose}>
              Close
            </button>
          </div>
        </>
      )}
    </Modal>
  );
}

// The notice for a file changed in the box while it has unsaved edits
// here: keep mine, take theirs, or show both side by side first.

import { useState } from 'react';
import type { BoxConflict, BoxFilesStore } from '../../store/boxFiles';
import type { Project } from '../../store/project';
import { currentText } from '../../store/project';
import { useStore } from '../../hooks';

function theirsText(conflict: BoxConflict): string {
  if (!conflict.theirs) return '(deleted in the box)';
  return conflict.theirs.base64 ? '(a binary file)' : conflict.theirs.content;
}

export function BoxConflicts({ store, project }: { store: BoxFilesStore; project: Project | null }) {
  const { conflicts } = useStore(store);
  const [both, setBoth] = useState<string | null>(null);
  if (!conflicts.length || !project) return null;
  return (
    <>
      {conflicts.map((conflict) => (
        <div key={conflict.path} className="banner info box-conflict" role="alert" aria-label={`Changed in the box: ${conflict.path}`}>
          <span>
            <strong>{conflict.path}</strong> was {conflict.theirs ? 'changed' : 'deleted'} in the box while you have unsaved
            edits here.
          </span>
          <button type="button" className="banner-action" onClick={() => store.keepMine(conflict.path)}>
            Keep mine
          </button>
          <button type="button" className="banner-action" onClick={() => store.takeTheirs(conflict.path)}>
            Take theirs
          </button>
          <button type="button" className="banner-action" aria-expanded={both === conflict.path} onClick={() => setBoth(both === conflict.path ? null : conflict.path)}>
            {both === conflict.path ? 'Hide both' : 'Show both'}
          </button>
          {both === conflict.path && (
            <div className="box-conflict-both">
              <figure>
                <figcaption>Mine (unsaved)</figcaption>
                <pre aria-label="Mine">{currentText(project, conflict.path)}</pre>
              </figure>
              <figure>
                <figcaption>The box's</figcaption>
                <pre aria-label="The box's">{theirsText(conflict)}</pre>
              </figure>
            </div>
          )}
        </div>
      ))}
    </>
  );
}

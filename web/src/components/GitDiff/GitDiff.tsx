// One file's diff in the Source Control panel: CodeMirror's merge view,
// read-only, the old side on the left. The merge view is a chunk of its
// own, loaded the first time a diff opens.

import { useEffect, useRef, useState } from 'react';
import { EditorState } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { Icon } from '../Icons/Icon';

export interface DiffSides {
  path: string;
  /** Left: HEAD for a staged change, the index otherwise (empty for a new file). */
  before: string;
  /** Right: the index for a staged change, the working tree otherwise. */
  after: string;
  staged: boolean;
}

const READ_ONLY = [EditorState.readOnly.of(true), EditorView.editable.of(false), EditorView.lineWrapping];

export function GitDiff({ sides, onClose }: { sides: DiffSides; onClose: () => void }) {
  const host = useRef<HTMLDivElement>(null);
  const [failed, setFailed] = useState<string | null>(null);
  useEffect(() => {
    let view: { destroy(): void } | null = null;
    let gone = false;
    import('@codemirror/merge')
      .then(({ MergeView }) => {
        if (gone || !host.current) return;
        view = new MergeView({
          a: { doc: sides.before, extensions: READ_ONLY },
          b: { doc: sides.after, extensions: READ_ONLY },
          parent: host.current,
          collapseUnchanged: { margin: 3, minSize: 6 },
        });
      })
      .catch((e: unknown) => setFailed(String(e)));
    return () => {
      gone = true;
      view?.destroy();
    };
  }, [sides]);
  return (
    <section className="git-diff" aria-label={`Diff of ${sides.path}`}>
      <div className="git-diff-head">
        <span title={sides.path}>
          {sides.path} <span className="git-muted">{sides.staged ? '(staged)' : '(working tree)'}</span>
        </span>
        <button type="button" className="icon" aria-label="Close the diff" onClick={onClose}>
          <Icon name="close" />
        </button>
      </div>
      {failed ? <p className="git-error">{failed}</p> : <div className="git-diff-view" ref={host} />}
    </section>
  );
}

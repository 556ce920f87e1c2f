// The Source Control panel, in place of the file tree (docs/git.md): the
// branch (switch, create), a commit message, the staged, changed and
// untracked files with their diffs, and the history. Every action is a
// git command in the session's box (store/git.ts).

import { useEffect, useState } from 'react';
import { useStore } from '../../hooks';
import type { GitStore } from '../../store/git';
import { GitChanges } from '../GitChanges/GitChanges';
import { GitDiff, type DiffSides } from '../GitDiff/GitDiff';
import { GitLog } from '../GitLog/GitLog';
import { Icon } from '../Icons/Icon';
import { GitRemoteActions } from './GitRemoteActions';
import { GitSaveProblem } from './GitSaveProblem';

export function SourceControl({
  git,
  prompt,
  confirm,
  onClose,
}: {
  git: GitStore;
  prompt: (title: string, label: string, value: string, confirm: string) => Promise<string | null>;
  confirm: (title: string, message: string, confirm: string) => Promise<boolean>;
  onClose: () => void;
}) {
  const { repo, status, branches, log, busy, error } = useStore(git);
  const [message, setMessage] = useState('');
  const [diff, setDiff] = useState<DiffSides | null>(null);
  useEffect(() => {
    void git.refresh();
    return git.follow();
  }, [git]);

  const openDiff = (path: string, staged: boolean, untracked: boolean) => {
    git.diffSides(path, staged, untracked).then(
      (sides) => setDiff({ path, staged, ...sides }),
      () => setDiff(null),
    );
  };
  const confirmDiscard = (what: string) => confirm('Discard changes?', `The changes to ${what} are lost: git puts back what it has.`, 'Discard');
  const commit = async () => {
    await git.commit(message);
    if (!git.get().error) setMessage('');
  };
  const newBranch = async () => {
    const name = await prompt('New branch', 'Name', '', 'Create and switch');
    if (name?.trim()) await git.createBranch(name.trim());
  };
  const staged = status?.staged ?? [];

  return (
    <section className="files git" aria-label="Source Control" aria-busy={busy}>
      <div className="files-toolbar git-head">
        <span className="files-title">Source Control</span>
        <span>
          <button type="button" className="icon" aria-label="Refresh" title="Read git's status again" onClick={() => void git.refresh()}>
            <Icon name="refresh" />
          </button>
          <button type="button" className="icon" aria-label="Close Source Control" title="Back to the files" onClick={onClose}>
            <Icon name="close" />
          </button>
        </span>
      </div>
      {error && (
        <p className="git-error" role="alert">
          {error}
        </p>
      )}
      {git.saved && <GitSaveProblem saved={git.saved} />}
      {repo === 'unknown' && <p className="git-muted git-pad">Reading git's status…</p>}
      {repo === 'none' && (
        <div className="git-pad">
          <p>This workspace is not a git repository.</p>
          <button type="button" disabled={busy} onClick={() => void git.init()}>
            Initialize repository
          </button>
        </div>
      )}
      {repo === 'ready' && status && (
        <div className="git-body">
          <div className="git-branch">
            <Icon name="branch" />
            <select aria-label="Branch" value={status.branch ?? ''} disabled={busy} onChange={(e) => void git.switchTo(e.target.value)}>
              {!status.branch && <option value="">(detached)</option>}
              {(branches.length ? branches : [status.branch ?? '']).filter(Boolean).map((b) => (
                <option key={b} value={b}>
                  {b}
                </option>
              ))}
            </select>
            <button type="button" className="icon" aria-label="New branch" title="Create a branch here and switch to it" disabled={busy} onClick={() => void newBranch()}>
              <Icon name="plus" />
            </button>
          </div>
          <GitRemoteActions git={git} status={status} busy={busy} />
          <form
            className="git-commit"
            onSubmit={(e) => {
              e.preventDefault();
              void commit();
            }}
          >
            <textarea aria-label="Commit message" placeholder="Message" rows={2} value={message} onChange={(e) => setMessage(e.target.value)} />
            <button type="submit" disabled={busy || !message.trim() || !staged.length} title={staged.length ? 'Commit the staged changes' : 'Stage changes first'}>
              Commit
            </button>
          </form>
          <GitChanges title="Staged Changes" list="staged" entries={staged} git={git} onDiff={openDiff} confirmDiscard={confirmDiscard} />
          <GitChanges title="Changes" list="changes" entries={[...status.conflicted, ...status.changes]} git={git} onDiff={openDiff} confirmDiscard={confirmDiscard} />
          <GitChanges title="Untracked" list="untracked" entries={status.untracked} git={git} onDiff={openDiff} confirmDiscard={confirmDiscard} />
          {!staged.length && !status.changes.length && !status.untracked.length && !status.conflicted.length && (
            <p className="git-muted git-pad">Nothing to commit, working tree clean.</p>
          )}
          {diff && <GitDiff sides={diff} onClose={() => setDiff(null)} />}
          <h3 className="git-list-head">History</h3>
          <GitLog log={log} />
        </div>
      )}
    </section>
  );
}

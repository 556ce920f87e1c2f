// The Source Control panel's lists: staged changes, changes, untracked
// files; a click opens a file's diff, the buttons stage, unstage or
// discard one file or all of a list.

import type { StatusEntry } from '../../git/status';
import { describeLetter } from '../../git/status';
import type { GitStore } from '../../store/git';
import { Icon } from '../Icons/Icon';

export type OpenDiff = (path: string, staged: boolean, untracked: boolean) => void;

type ListKind = 'staged' | 'changes' | 'untracked';

function Entry({ entry, list, git, onDiff, confirmDiscard }: { entry: StatusEntry; list: ListKind; git: GitStore; onDiff: OpenDiff; confirmDiscard: (what: string) => Promise<boolean> }) {
  const letter = list === 'staged' ? entry.index : entry.worktree;
  const discard = async () => {
    if (!(await confirmDiscard(entry.path))) return;
    if (list === 'untracked') void git.discard([], [entry.path]);
    else void git.discard([entry.path], []);
  };
  return (
    <li className="git-entry">
      <button type="button" className="git-path" title={`${entry.path}: ${describeLetter(letter)}; show the diff`} onClick={() => onDiff(entry.path, list === 'staged', list === 'untracked')}>
        {entry.path}
      </button>
      <span className={`git-letter git-letter-${letter}`} aria-label={describeLetter(letter)}>
        {letter === '?' ? 'U' : letter}
      </span>
      {list === 'staged' ? (
        <button type="button" className="icon" aria-label={`Unstage ${entry.path}`} title="Unstage" onClick={() => void git.unstage([entry.path])}>
          <Icon name="minus" />
        </button>
      ) : (
        <>
          <button type="button" className="icon" aria-label={`Discard ${entry.path}`} title="Discard the changes" onClick={() => void discard()}>
            <Icon name="trash" />
          </button>
          <button type="button" className="icon" aria-label={`Stage ${entry.path}`} title="Stage" onClick={() => void git.stage([entry.path])}>
            <Icon name="plus" />
          </button>
        </>
      )}
    </li>
  );
}

export function GitChanges({
  title,
  list,
  entries,
  git,
  onDiff,
  confirmDiscard,
}: {
  title: string;
  list: ListKind;
  entries: StatusEntry[];
  git: GitStore;
  onDiff: OpenDiff;
  confirmDiscard: (what: string) => Promise<boolean>;
}) {
  if (!entries.length) return null;
  const paths = entries.map((e) => e.path);
  const discardAll = async () => {
    if (!(await confirmDiscard(`${paths.length} files`))) return;
    if (list === 'untracked') void git.discard([], paths);
    else void git.discard(paths, []);
  };
  return (
    <section className="git-list" aria-label={title}>
      <div className="git-list-head">
        <span>
          {title} <span className="git-count">{entries.length}</span>
        </span>
        {list === 'staged' ? (
          <button type="button" className="icon" aria-label="Unstage all" title="Unstage all" onClick={() => void git.unstageAll()}>
            <Icon name="minus" />
          </button>
        ) : (
          <span>
            <button type="button" className="icon" aria-label={`Discard all ${title.toLowerCase()}`} title="Discard all" onClick={() => void discardAll()}>
              <Icon name="trash" />
            </button>
            <button type="button" className="icon" aria-label={`Stage all ${title.toLowerCase()}`} title="Stage all" onClick={() => void git.stage(paths)}>
              <Icon name="plus" />
            </button>
          </span>
        )}
      </div>
      <ul>
        {entries.map((entry) => (
          <Entry key={entry.path} entry={entry} list={list} git={git} onDiff={onDiff} confirmDiscard={confirmDiscard} />
        ))}
      </ul>
    </section>
  );
}

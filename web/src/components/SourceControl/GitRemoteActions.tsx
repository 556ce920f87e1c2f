// Fetch, pull and push for the branch checked out (docs/git.md,
// "Remotes"): ordinary git commands in the box against the repository's
// own remotes, with how far the branch is ahead of and behind its
// upstream as git's status says.

import type { GitStatus } from '../../git/status';
import type { GitStore } from '../../store/git';

export function GitRemoteActions({ git, status, busy }: { git: GitStore; status: GitStatus; busy: boolean }) {
  const upstream = status.upstream;
  return (
    <div className="git-remote" role="group" aria-label="Remote">
      <span className="git-muted" title={upstream ? `The branch follows ${upstream}` : 'The branch follows no remote branch yet'}>
        {upstream ? `${upstream}: ${status.ahead} ahead, ${status.behind} behind` : 'No upstream'}
      </span>
      <span>
        <button type="button" disabled={busy} title="Fetch every remote's branches" onClick={() => void git.fetch()}>
          Fetch
        </button>
        <button type="button" disabled={busy || !upstream} title={upstream ? `Fast-forward from ${upstream}` : 'Push first, or set an upstream in a terminal'} onClick={() => void git.pull()}>
          Pull
        </button>
        <button type="button" disabled={busy || !status.head} title={upstream ? `Push to ${upstream}` : 'Push to origin under the same name, and follow it'} onClick={() => void git.push()}>
          Push
        </button>
      </span>
    </div>
  );
}

// A save of the repository with the project that failed (over the
// quota, storage down), or a project the session could not take: shown
// until a save succeeds (docs/git.md, "Saved with the project").

import { useStoreValue } from '../../hooks';
import type { ProjectGitStore } from '../../store/projectGit';

export function GitSaveProblem({ saved }: { saved: ProjectGitStore }) {
  const problem = useStoreValue(saved, (snapshot) => snapshot.problem);
  if (!problem) return null;
  return (
    <p className="git-error git-save-problem" role="alert">
      {problem}
    </p>
  );
}

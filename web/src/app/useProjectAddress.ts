// The page's address follows the open project (`/p/<id>`), and the back
// and forward buttons open the project their address names. The first
// project comes from the address at start (main.tsx passes it to the
// workspace's `load`).

import { useEffect, useRef } from 'react';
import { pathOfProject, projectIdOfPath } from '../store/address';
import type { Workspace } from '../store/workspace';

/** What the IDE says when an address names a project it cannot open. */
export function missingProject(opened: string): string {
  return `That address names no project here (deleted, or kept in another browser or account); ${opened} is open instead.`;
}

export function useProjectAddress(
  workspace: Workspace,
  project: { id: string; name: string } | null,
  setNotice: (message: string) => void,
) {
  const first = useRef(true);
  const id = project?.id;
  const name = project?.name ?? '';

  useEffect(() => {
    if (!id) return;
    const shown = projectIdOfPath(window.location.pathname);
    const wasFirst = first.current;
    first.current = false;
    if (shown === id) return;
    // The address the page opened with is replaced, not stacked: back
    // then leaves the IDE instead of landing on a project that is not here.
    if (wasFirst) {
      if (shown) setNotice(missingProject(name));
      window.history.replaceState(null, '', pathOfProject(id));
    } else {
      window.history.pushState(null, '', pathOfProject(id));
    }
    // Only a change of project moves the address; a rename does not.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id]);

  useEffect(() => {
    const onPop = () => {
      const wanted = projectIdOfPath(window.location.pathname);
      if (!wanted || wanted === workspace.get().project?.id) return;
      const settle = () => {
        const open = workspace.get().project;
        if (open && open.id !== wanted) {
          setNotice(missingProject(open.name));
          window.history.replaceState(null, '', pathOfProject(open.id));
        }
      };
      workspace.open(wanted).then(settle, settle);
    };
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, [workspace, setNotice]);
}

// Applying a change to the open project, with a refusal (a bad path, a
// name taken) shown as a notice instead of thrown.

import { useCallback } from 'react';
import { ProjectError, type Project } from '../store/project';
import type { Workspace } from '../store/workspace';

export type ChangeProject = (update: (p: Project) => Project, immediate?: boolean) => boolean;

export function useProjectChange(workspace: Workspace, setNotice: (message: string) => void): ChangeProject {
  return useCallback(
    (update: (p: Project) => Project, immediate = true): boolean => {
      try {
        workspace.change(update, immediate);
        return true;
      } catch (e) {
        if (e instanceof ProjectError) {
          setNotice(e.message);
          return false;
        }
        throw e;
      }
    },
    [workspace, setNotice],
  );
}

// Which account page is open, signing out, and the offer (once, after
// signing in or up) to import the browser's projects.

import { useCallback, useEffect, useState } from 'react';
import { OFFER_IMPORT } from '../store/account';
import { ProjectDb } from '../store/db';
import type { ServerWorkspaceStore } from '../store/remote';
import type { Workspace } from '../store/workspace';
import type { AccountStore } from '../store/account';
import type { AccountPage } from '../components/AccountPages/AccountPages';
import type { Ask } from './useDialogs';
import { errorText } from './useNotice';

export function useAccountPages({
  workspace,
  remote,
  account,
  ask,
  setNotice,
}: {
  workspace: Workspace;
  remote: ServerWorkspaceStore | null;
  account?: AccountStore;
  ask: Ask;
  setNotice: (message: string) => void;
}) {
  const [page, setPage] = useState<AccountPage>(null);

  useEffect(() => {
    if (remote && window.sessionStorage.getItem(OFFER_IMPORT)) {
      window.sessionStorage.removeItem(OFFER_IMPORT);
      void hasLocalProjects().then((yes) => yes && setPage('import'));
    }
  }, [remote]);

  const { confirm } = ask;
  const signOut = useCallback(async () => {
    try {
      const saved = await workspace.flush();
      if (
        saved === false &&
        !(await confirm('Sign out without saving?', 'Some changes could not be saved to the server and will be lost.', 'Sign out'))
      ) {
        return;
      }
      await account?.api.signOut();
      window.location.reload();
    } catch (e) {
      setNotice(`Could not sign out: ${errorText(e)}`);
    }
  }, [workspace, account, confirm, setNotice]);

  return { page, setPage, signOut };
}

/** True when this browser holds guest projects (opened only to ask). */
async function hasLocalProjects(): Promise<boolean> {
  try {
    return (await new ProjectDb().list()).length > 0;
  } catch {
    return false;
  }
}

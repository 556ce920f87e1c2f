// Which account page is open, signing out, and the offer (once, after
// signing in or up, for projects not offered to that user before) to
// import the browser's projects.

import { useCallback, useEffect, useState } from 'react';
import { OFFER_IMPORT, takeProjectsToOffer } from '../store/account';
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
    const state = account?.get();
    if (remote && state?.status === 'user' && state.me.user && window.sessionStorage.getItem(OFFER_IMPORT)) {
      window.sessionStorage.removeItem(OFFER_IMPORT);
      const userId = state.me.user.id;
      void localProjectIds().then((ids) => takeProjectsToOffer(window.localStorage, userId, ids).length > 0 && setPage('import'));
    }
  }, [remote, account]);

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
      // At `/`: the address named a project of the account, which the guest's browser does not have.
      window.location.assign('/');
    } catch (e) {
      setNotice(`Could not sign out: ${errorText(e)}`);
    }
  }, [workspace, account, confirm, setNotice]);

  return { page, setPage, signOut };
}

/** The ids of this browser's guest projects (the database opened only to ask). */
async function localProjectIds(): Promise<string[]> {
  try {
    return (await new ProjectDb().list()).map((p) => p.id);
  } catch {
    return [];
  }
}

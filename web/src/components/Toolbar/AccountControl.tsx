// Who is signed in: the user's menu, or Sign in for a guest, or nothing
// when the server has no accounts.

import type { AccountState } from '../../store/account';
import type { AccountPage } from '../AccountPages/AccountPages';
import { UserMenu } from './UserMenu';

export function AccountControl({
  account,
  onPage,
  onSignOut,
}: {
  account: AccountState;
  onPage: (page: AccountPage) => void;
  onSignOut: () => void;
}) {
  if (account.status === 'user' && account.me.user) {
    const { user } = account.me;
    return (
      <UserMenu
        username={user.username}
        admin={user.role === 'admin'}
        onSettings={() => onPage('settings')}
        onAdmin={() => onPage('admin')}
        onDashboard={() => onPage('dashboard')}
        onImport={() => onPage('import')}
        onSignOut={onSignOut}
      />
    );
  }
  if (account.status === 'guest') {
    return (
      <button type="button" className="sign-in-button" onClick={() => onPage('signin')}>
        Sign in
      </button>
    );
  }
  return null;
}

// The account page that is open (sign-in, settings, admin, the admin's
// Dashboard, import), from the lazy chunks in components/account/ and
// components/Dashboard/.

import { Suspense, lazy } from 'react';
import type { AccountStore } from '../../store/account';
import type { Me } from '../../api/client';
import type { ServerWorkspaceStore } from '../../store/remote';

export type AccountPage = 'signin' | 'settings' | 'admin' | 'dashboard' | 'import' | null;

// The account pages are a chunk of their own, loaded on first use.
const accountPages = () => import('../account');
const AuthDialog = lazy(() => accountPages().then((m) => ({ default: m.AuthDialog })));
const SettingsPage = lazy(() => accountPages().then((m) => ({ default: m.SettingsPage })));
const AdminPage = lazy(() => accountPages().then((m) => ({ default: m.AdminPage })));
const ImportDialog = lazy(() => accountPages().then((m) => ({ default: m.ImportDialog })));
// The Dashboard and its chart library: a chunk of their own.
const Dashboard = lazy(() => import('../Dashboard').then((m) => ({ default: m.Dashboard })));

export function AccountPages({
  page,
  account,
  me,
  remote,
  onSignOut,
  onClose,
}: {
  page: AccountPage;
  account?: AccountStore;
  me: Me | null;
  remote: ServerWorkspaceStore | null;
  onSignOut: () => void;
  onClose: () => void;
}) {
  if (!page || !account) return null;
  return (
    <Suspense fallback={null}>
      {page === 'signin' && <AuthDialog api={account.api} onClose={onClose} />}
      {page === 'settings' && me && <SettingsPage api={account.api} me={me} onSignOut={onSignOut} onClose={onClose} />}
      {page === 'admin' && me && <AdminPage api={account.api} me={me} onClose={onClose} />}
      {page === 'dashboard' && me && <Dashboard api={account.api} onClose={onClose} />}
      {page === 'import' && remote && <ImportDialog workspace={remote} onClose={onClose} />}
    </Suspense>
  );
}

// Sign-in and sign-up: the form, the whole page when guest mode is off,
// the dialog a guest opens from the toolbar, and the page shown when the
// IDE cannot start.

import { useState } from 'react';
import type { ApiClient } from '../../api/client';
import { OFFER_IMPORT } from '../../store/account';
import { Modal } from '../Dialogs/Dialogs';
import { messageOf } from './format';
import { Icon } from '../Icons/Icon';

/**
 * After signing in or up: a fresh page, so the WebSocket session and the
 * projects are the user's. From a guest's IDE at `/` (the address named a
 * project of this browser, which the account does not have); from the
 * sign-in page at the address it was opened at (a bookmark of a saved
 * project).
 */
function reloadSignedIn(fromGuest: boolean) {
  window.sessionStorage.setItem(OFFER_IMPORT, '1');
  if (fromGuest) window.location.assign('/');
  else window.location.reload();
}

export function AuthForm({
  api,
  initialMode = 'signin',
  fromGuest = false,
}: {
  api: ApiClient;
  initialMode?: 'signin' | 'signup';
  fromGuest?: boolean;
}) {
  const [mode, setMode] = useState(initialMode);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const signup = mode === 'signup';
  return (
    <form
      className="auth-form"
      aria-label={signup ? 'Create an account' : 'Sign in'}
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try {
          if (signup) await api.signUp(username.trim(), password);
          else await api.signIn(username.trim(), password);
          reloadSignedIn(fromGuest);
        } catch (err) {
          setError(messageOf(err));
          setBusy(false);
        }
      }}
    >
      <div className="auth-tabs" role="tablist">
        <button type="button" role="tab" aria-selected={!signup} onClick={() => setMode('signin')}>
          Sign in
        </button>
        <button type="button" role="tab" aria-selected={signup} onClick={() => setMode('signup')}>
          Create account
        </button>
      </div>
      <label className="field">
        <span>Username</span>
        <input
          name="username"
          autoComplete="username"
          autoCapitalize="off"
          spellCheck={false}
          required
          minLength={3}
          maxLength={32}
          value={username}
          onChange={(e) => setUsername(e.target.value)}
        />
      </label>
      <label className="field">
        <span>Password{signup ? ' (at least 8 characters)' : ''}</span>
        <input
          name="password"
          type="password"
          autoComplete={signup ? 'new-password' : 'current-password'}
          required
          minLength={signup ? 8 : 1}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </label>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" className="primary" disabled={busy}>
        {signup ? 'Create account' : 'Sign in'}
      </button>
    </form>
  );
}

/** The whole page when guest mode is off (or the sign-in expired). */
export function SignInPage({ api, reason }: { api: ApiClient; reason: string | null }) {
  return (
    <main className="auth-page">
      <h1>
        <Icon name="logo" className="logo" />{' '}
        Bytesbox
      </h1>
      {reason && (
        <p className="banner warn" role="status">
          {reason}
        </p>
      )}
      <AuthForm api={api} />
    </main>
  );
}

export function AuthDialog({ api, onClose }: { api: ApiClient; onClose: () => void }) {
  return (
    <Modal title="Sign in to Bytesbox" onClose={onClose} className="auth-dialog">
      <p className="muted">Signed in, your projects are saved on the server and follow you to any browser.</p>
      <AuthForm api={api} fromGuest />
    </Modal>
  );
}

export function StartError({ message, api }: { message: string; api?: ApiClient }) {
  return (
    <main className="auth-page">
      <h1>Bytesbox</h1>
      <p role="alert">{message}</p>
      <button type="button" onClick={() => window.location.reload()}>
        Try again
      </button>{' '}
      {api && (
        <button type="button" onClick={() => void api.signOut().finally(() => window.location.reload())}>
          Sign out
        </button>
      )}
    </main>
  );
}

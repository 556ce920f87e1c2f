// The account pages, loaded only when needed (their own chunk): sign-in
// and sign-up, settings (plan, usage, API tokens), the admin page, and
// the offer to import the browser's projects into the account.

import { useCallback, useEffect, useState } from 'react';
import { ApiError, type AdminBox, type AdminSession, type AdminStorage, type AdminUser, type ApiClient, type Me, type Plan, type Token } from '../api/client';
import { OFFER_IMPORT } from '../store/account';
import { ProjectDb, type ProjectSummary } from '../store/db';
import type { ServerWorkspaceStore } from '../store/remote';
import { Modal } from './Dialogs';

export function messageOf(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.code === 'rate_limited' && e.retryAfterS) return `${e.message} Try again in ${e.retryAfterS} s.`;
    return e.message;
  }
  return e instanceof Error ? e.message : String(e);
}

/** After signing in or up: a fresh page, so the WebSocket session and the projects are the user's. */
function reloadSignedIn() {
  window.sessionStorage.setItem(OFFER_IMPORT, '1');
  window.location.reload();
}

export function AuthForm({ api, initialMode = 'signin' }: { api: ApiClient; initialMode?: 'signin' | 'signup' }) {
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
          reloadSignedIn();
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
        <span className="logo" aria-hidden="true">
          ▣
        </span>{' '}
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
      <AuthForm api={api} />
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

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(1)} GB`;
}

function when(ms: number | null | undefined): string {
  return ms ? new Date(ms).toLocaleString() : 'never';
}

function Meter({ label, used, max, bytes }: { label: string; used: number; max: number; bytes?: boolean }) {
  const show = bytes ? formatBytes : (n: number) => String(n);
  return (
    <div className="meter">
      <span>{label}</span>
      <meter min={0} max={max || 1} value={used} aria-label={`${label}: ${show(used)} of ${show(max)}`} />
      <span className="muted">
        {show(used)} of {show(max)}
      </span>
    </div>
  );
}

export function SettingsPage({ api, me, onSignOut, onClose }: { api: ApiClient; me: Me; onSignOut: () => void; onClose: () => void }) {
  const [tokens, setTokens] = useState<Token[] | null>(null);
  const [name, setName] = useState('');
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [fresh, setFresh] = useState(me);

  const reload = useCallback(() => {
    api.tokens().then(setTokens, (e: unknown) => setError(messageOf(e)));
    api.me().then(setFresh, () => {});
  }, [api]);
  useEffect(reload, [reload]);

  const user = fresh.user!;
  const plan = fresh.plan;
  const limits = plan?.limits;
  return (
    <Modal title="Settings" onClose={onClose} className="page-dialog settings-page">
      <section aria-label="Account">
        <h3>Account</h3>
        <dl className="facts">
          <dt>Username</dt>
          <dd data-testid="settings-username">{user.username}</dd>
          <dt>Role</dt>
          <dd>{user.role}</dd>
          <dt>Member since</dt>
          <dd>{when(user.created_at_ms)}</dd>
        </dl>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </section>
      <section aria-label="Plan and usage">
        <h3>
          Plan: <span data-testid="settings-plan">{plan?.name ?? user.plan}</span>
        </h3>
        {plan && (
          <>
            <p className="muted">
              Up to {plan.max_concurrent_runs} programs at once
              {limits?.wall_time_ms ? `, ${limits.wall_time_ms / 1000} s each` : ''}
              {limits?.memory_bytes ? `, ${formatBytes(limits.memory_bytes)} of memory` : ''}
              {limits?.output_bytes ? `, ${formatBytes(limits.output_bytes)} of output` : ''}.
            </p>
            {fresh.usage && (
              <div className="meters">
                <Meter label="Projects" used={fresh.usage.projects} max={plan.max_projects} />
                <Meter label="Files" used={fresh.usage.files} max={plan.max_files} />
                <Meter label="Storage" used={fresh.usage.bytes} max={plan.max_bytes} bytes />
              </div>
            )}
          </>
        )}
      </section>
      <section aria-label="API tokens">
        <h3>API tokens</h3>
        <p className="muted">
          Programs use a token as <code>Authorization: Bearer …</code>. It acts as you: keep it secret, revoke it when it is no longer used.
        </p>
        {secret && (
          <div className="banner warn" role="status" data-testid="token-secret">
            <span>
              The token <strong>{secret.name}</strong>: <code>{secret.secret}</code> — copy it now, it is shown only once.
            </span>
            <button type="button" onClick={() => void navigator.clipboard?.writeText(secret.secret)}>
              Copy
            </button>
          </div>
        )}
        <form
          className="inline-form"
          onSubmit={async (e) => {
            e.preventDefault();
            setError(null);
            try {
              const made = await api.createToken(name.trim() || 'token');
              setSecret({ name: made.token.name, secret: made.secret });
              setName('');
              reload();
            } catch (err) {
              setError(messageOf(err));
            }
          }}
        >
          <input aria-label="Token name" placeholder="Name, e.g. ci" value={name} onChange={(e) => setName(e.target.value)} />
          <button type="submit">Create token</button>
        </form>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        {tokens === null ? (
          <p className="muted">Loading…</p>
        ) : tokens.length === 0 ? (
          <p className="muted">No tokens.</p>
        ) : (
          <table className="table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Created</th>
                <th>Last used</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {tokens.map((t) => (
                <tr key={t.id}>
                  <td>{t.name}</td>
                  <td>{when(t.created_at_ms)}</td>
                  <td>{when(t.last_used_at_ms)}</td>
                  <td>
                    <button
                      type="button"
                      className="danger"
                      aria-label={`Revoke token ${t.name}`}
                      onClick={async () => {
                        try {
                          await api.revokeToken(t.id);
                          reload();
                        } catch (err) {
                          setError(messageOf(err));
                        }
                      }}
                    >
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </Modal>
  );
}

type AdminTab = 'users' | 'sessions' | 'boxes' | 'storage';

/** What a box uses, in words, from the figures the server gave. */
export function boxUse(b: AdminBox, memory = true): string {
  const parts: string[] = [];
  if (memory && b.memory_bytes !== undefined) parts.push(`${formatBytes(b.memory_bytes)} memory`);
  if (typeof b.cpu_time_ms === 'number') parts.push(`${b.cpu_time_ms} ms CPU`);
  if (typeof b.pids === 'number') parts.push(`${b.pids} processes`);
  if (typeof b.active_runs === 'number') parts.push(`${b.active_runs} running`);
  if (typeof b.total_runs === 'number') parts.push(`${b.total_runs} runs`);
  if (typeof b.idle_ms === 'number' && !b.active_runs) parts.push(`idle ${Math.round(b.idle_ms / 1000)} s`);
  return parts.join(', ') || '—';
}

export function AdminPage({ api, me, onClose }: { api: ApiClient; me: Me; onClose: () => void }) {
  const [tab, setTab] = useState<AdminTab>('users');
  const [users, setUsers] = useState<AdminUser[] | null>(null);
  const [sessions, setSessions] = useState<AdminSession[] | null>(null);
  const [boxes, setBoxes] = useState<AdminBox[] | null>(null);
  const [storage, setStorage] = useState<AdminStorage | null>(null);
  const [plans, setPlans] = useState<Plan[]>([]);
  const [error, setError] = useState<string | null>(null);

  const reload = useCallback(() => {
    const fail = (e: unknown) => setError(messageOf(e));
    api.adminUsers().then(setUsers, fail);
    api.adminSessions().then(setSessions, fail);
    api.adminBoxes().then(setBoxes, fail);
    api.adminStorage().then(setStorage, fail);
  }, [api]);
  useEffect(() => {
    reload();
    api.plans().then(setPlans, () => {});
    // Live figures: sessions and boxes change by the second.
    const t = setInterval(reload, 5000);
    return () => clearInterval(t);
  }, [api, reload]);

  const act = async (what: Promise<unknown>) => {
    setError(null);
    try {
      await what;
    } catch (e) {
      setError(messageOf(e));
    }
    reload();
  };

  return (
    <Modal title="Admin" onClose={onClose} className="page-dialog admin-page">
      <div className="auth-tabs" role="tablist" aria-label="Admin sections">
        {(['users', 'sessions', 'boxes', 'storage'] as AdminTab[]).map((t) => (
          <button key={t} type="button" role="tab" aria-selected={tab === t} onClick={() => setTab(t)}>
            {t === 'users'
              ? `Users${users ? ` (${users.length})` : ''}`
              : t === 'sessions'
                ? `Live sessions${sessions ? ` (${sessions.length})` : ''}`
                : t === 'boxes'
                  ? `Boxes${boxes ? ` (${boxes.length})` : ''}`
                  : 'Storage'}
          </button>
        ))}
        <button type="button" onClick={reload} aria-label="Refresh">
          ⟳
        </button>
      </div>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {tab === 'users' && (
        <table className="table" aria-label="Users">
          <thead>
            <tr>
              <th>User</th>
              <th>Role</th>
              <th>Plan</th>
              <th>Usage</th>
              <th>State</th>
            </tr>
          </thead>
          <tbody>
            {(users ?? []).map((u) => (
              <tr key={u.id} data-username={u.username}>
                <td>{u.username}</td>
                <td>{u.role}</td>
                <td>
                  <select
                    aria-label={`Plan of ${u.username}`}
                    value={u.plan}
                    onChange={(e) => void act(api.adminUpdateUser(u.id, { plan: e.target.value }))}
                  >
                    {[...new Set([u.plan, ...plans.map((p) => p.name)])].map((p) => (
                      <option key={p} value={p}>
                        {p}
                      </option>
                    ))}
                  </select>
                </td>
                <td className="muted">
                  {u.usage ? `${u.usage.projects} projects, ${u.usage.files} files, ${formatBytes(u.usage.bytes)}` : '—'}
                  {u.running ? `; ${u.running} running` : ''}
                </td>
                <td>
                  {u.id === me.user?.id ? (
                    <span className="muted">you</span>
                  ) : (
                    <button
                      type="button"
                      className={u.disabled ? '' : 'danger'}
                      onClick={() => void act(api.adminUpdateUser(u.id, { disabled: !u.disabled }))}
                    >
                      {u.disabled ? 'Enable' : 'Disable'}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {tab === 'sessions' && (
        <table className="table" aria-label="Live sessions">
          <thead>
            <tr>
              <th>Session</th>
              <th>Owner</th>
              <th>Connected</th>
              <th>Runs</th>
              <th>Box</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {(sessions ?? []).map((s) => (
              <tr key={s.id}>
                <td>
                  <code>{s.id.slice(0, 8)}</code>
                </td>
                <td>{'username' in s.owner ? s.owner.username : 'guest' in s.owner ? `guest ${s.owner.guest}` : 'anonymous'}</td>
                <td>{s.connected ? 'yes' : 'no (grace)'}</td>
                <td>{s.runs}</td>
                <td className="muted">{s.box ? boxUse(s.box) : '—'}</td>
                <td>
                  <button type="button" className="danger" onClick={() => void act(api.adminKillSession(s.id))}>
                    Kill
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {tab === 'boxes' && (
        <table className="table" aria-label="Boxes">
          <thead>
            <tr>
              <th>Box</th>
              <th>Session</th>
              <th>Memory</th>
              <th>Use</th>
            </tr>
          </thead>
          <tbody>
            {(boxes ?? []).map((b) => (
              <tr key={b.id}>
                <td>
                  <code>{b.id.slice(0, 12)}</code>
                </td>
                <td>
                  <code>{b.session ? b.session.slice(0, 8) : '—'}</code>
                </td>
                <td>{formatBytes(b.memory_bytes)}</td>
                <td className="muted">{boxUse(b, false)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {tab === 'storage' && storage && (
        <>
          <p className="muted" aria-label="Storage total">
            {formatBytes(storage.total_bytes)} stored
            {storage.budget_bytes !== null ? ` of a ${formatBytes(storage.budget_bytes)} budget` : ' (no budget)'}
            {storage.disk.free_bytes !== null
              ? `; ${formatBytes(storage.disk.free_bytes)} free on the data disk, writes stop below ${formatBytes(storage.disk.min_free_bytes)}`
              : ''}
            .
          </p>
          <table className="table" aria-label="Storage by user">
            <thead>
              <tr>
                <th>User</th>
                <th>Projects</th>
                <th>Files</th>
                <th>Stored</th>
              </tr>
            </thead>
            <tbody>
              {storage.users.map((u) => (
                <tr key={u.id} data-username={u.username}>
                  <td>{u.username}</td>
                  <td>{u.projects}</td>
                  <td>{u.files}</td>
                  <td>{formatBytes(u.bytes)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </Modal>
  );
}

/**
 * Offers to copy the browser's (guest) projects into the account. The
 * browser's copies stay unless the user ticks "delete".
 */
export function ImportDialog({ workspace, onClose }: { workspace: ServerWorkspaceStore; onClose: () => void }) {
  const [db] = useState(() => new ProjectDb());
  const [list, setList] = useState<ProjectSummary[] | null>(null);
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [removeLocal, setRemoveLocal] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<number | null>(null);

  useEffect(() => {
    db.list().then(
      (l) => {
        setList(l);
        setChosen(new Set(l.map((p) => p.id)));
      },
      (e: unknown) => setError(messageOf(e)),
    );
  }, [db]);

  if (list === null && !error) return null;
  return (
    <Modal title="Import projects from this browser" onClose={onClose} className="import-dialog">
      {done !== null ? (
        <>
          <p role="status">
            Imported {done} project{done === 1 ? '' : 's'} into your account.
          </p>
          <div className="dialog-buttons">
            <button type="button" className="primary" onClick={onClose}>
              Done
            </button>
          </div>
        </>
      ) : list && list.length ? (
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            setBusy(true);
            setError(null);
            let n = 0;
            try {
              for (const summary of list.filter((p) => chosen.has(p.id))) {
                const project = await db.get(summary.id);
                if (!project) continue;
                await workspace.importProjects([project]);
                n++;
                if (removeLocal) await db.delete(summary.id);
              }
              setDone(n);
            } catch (err) {
              setError(`${n ? `Imported ${n}, then: ` : ''}${messageOf(err)}`);
            }
            setBusy(false);
          }}
        >
          <p>This browser has projects you made without an account. Copy them into your account?</p>
          <ul className="import-list">
            {list.map((p) => (
              <li key={p.id}>
                <label>
                  <input
                    type="checkbox"
                    checked={chosen.has(p.id)}
                    onChange={(e) => {
                      const next = new Set(chosen);
                      if (e.target.checked) next.add(p.id);
                      else next.delete(p.id);
                      setChosen(next);
                    }}
                  />{' '}
                  {p.name} <span className="muted">({p.files} files)</span>
                </label>
              </li>
            ))}
          </ul>
          <label>
            <input type="checkbox" checked={removeLocal} onChange={(e) => setRemoveLocal(e.target.checked)} /> Delete them from this browser once
            imported
          </label>
          {error && (
            <p className="form-error" role="alert">
              {error}
            </p>
          )}
          <div className="dialog-buttons">
            <button type="button" onClick={onClose}>
              Not now
            </button>
            <button type="submit" className="primary" disabled={busy || chosen.size === 0}>
              Import {chosen.size} project{chosen.size === 1 ? '' : 's'}
            </button>
          </div>
        </form>
      ) : (
        <>
          <p>{error ?? 'This browser has no projects to import.'}</p>
          <div className="dialog-buttons">
            <button type="button" onClick={onClose}>
              Close
            </button>
          </div>
        </>
      )}
    </Modal>
  );
}

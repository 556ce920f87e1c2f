// The settings page: the account, its plan and usage, and API tokens.

import { useCallback, useEffect, useState } from 'react';
import type { ApiClient, Me, Token } from '../../api/client';
import { Modal } from '../Dialogs/Dialogs';
import { formatBytes, messageOf, when } from './format';

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
          What they can call is in the{' '}
          <a href="/api/v1/docs" target="_blank" rel="noopener noreferrer">
            API documentation
          </a>
          .
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


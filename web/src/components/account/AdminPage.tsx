// The admin page: users, live sessions, boxes and storage, refreshed every 5 s.

import { useCallback, useEffect, useState } from 'react';
import type { AdminBox, AdminSession, AdminStorage, AdminUser, ApiClient, Me, Plan } from '../../api/client';
import { Modal } from '../Dialogs/Dialogs';
import { boxUse, formatBytes, messageOf } from './format';
import { Icon } from '../Icons/Icon';

type AdminTab = 'users' | 'sessions' | 'boxes' | 'storage';

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
          <Icon name="refresh" />
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

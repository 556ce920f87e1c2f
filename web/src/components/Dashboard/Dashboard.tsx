// The admin's Dashboard: runs per minute by language and status, latency
// percentiles, load (queue, running jobs, sessions, boxes), server memory
// and errors over the last hour or day, for the fleet or one node (and,
// for the fleet, runs, p95, sessions and boxes per node side by side); the
// latest server-side failures; and per-user analytics. The server keeps
// the figures per minute in its database (docs/monitoring.md).

import { useMemo, useState } from 'react';
import type { ApiClient } from '../../api/client';
import { Modal } from '../Dialogs/Dialogs';
import { formatBytes, when } from '../account/format';
import { Icon } from '../Icons/Icon';
import { Chart } from './Chart';
import {
  errors,
  languagesOf,
  latency,
  load,
  memory,
  perNode,
  runsByLanguage,
  runsByStatus,
  runsPerNode,
  totals,
  userRunsByDay,
} from './series';
import { type Range, useDashboard } from './useDashboard';

export function Dashboard({ api, onClose }: { api: ApiClient; onClose: () => void }) {
  const [range, setRange] = useState<Range>('hour');
  const [node, setNode] = useState<string | null>(null);
  const state = useDashboard(api, range, node);
  const { series } = state;
  const charts = useMemo(
    () =>
      series && [
        { title: 'Runs per minute by language', unit: 'runs/min', lines: runsByLanguage(series) },
        { title: 'Runs per minute by status', unit: 'runs/min', lines: runsByStatus(series) },
        { title: 'Run latency (submission to end)', unit: 'ms', lines: latency(series) },
        { title: 'Queue, running jobs, sessions and boxes', unit: 'count', lines: load(series) },
        { title: 'Server memory', unit: 'MiB', lines: memory(series) },
        { title: 'Server-side errors', unit: 'errors', lines: errors(series) },
        // The fleet's view: the nodes side by side.
        ...(series.node === null && series.per_node.length > 0
          ? [
              { title: 'Runs per minute per node', unit: 'runs/min', lines: runsPerNode(series) },
              { title: 'p95 latency per node', unit: 'ms', lines: perNode(series, (p) => p.p95_ms) },
              { title: 'Sessions per node', unit: 'sessions', lines: perNode(series, (p) => p.sessions) },
              { title: 'Boxes per node', unit: 'boxes', lines: perNode(series, (p) => p.boxes) },
            ]
          : []),
      ],
    [series],
  );
  const sum = series && totals(series);
  const userLines = useMemo(() => state.users && userRunsByDay(state.users), [state.users]);
  const nodes = [...new Set([...(series?.nodes ?? []), ...(node ? [node] : [])])];

  return (
    <Modal title="Dashboard" onClose={onClose} className="page-dialog dashboard-page">
      <div className="dashboard-controls">
        <div className="auth-tabs" role="tablist" aria-label="Time range">
          {(['hour', 'day'] as Range[]).map((r) => (
            <button key={r} type="button" role="tab" aria-selected={range === r} onClick={() => setRange(r)}>
              {r === 'hour' ? 'Last hour' : 'Last day'}
            </button>
          ))}
        </div>
        <label>
          Node{' '}
          <select aria-label="Node" value={node ?? ''} onChange={(e) => setNode(e.target.value || null)}>
            <option value="">Whole fleet</option>
            {nodes.map((n) => (
              <option key={n} value={n}>
                {n}
                {n === series?.this_node ? ' (this node)' : ''}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={state.reload} aria-label="Refresh">
          <Icon name="refresh" />
        </button>
      </div>
      {state.error && (
        <p className="form-error" role="alert">
          {state.error}
        </p>
      )}
      {sum && (
        <p className="muted" data-testid="dashboard-totals">
          {sum.runs} runs ({sum.failedRuns} not ok), {sum.errors} server-side error{sum.errors === 1 ? '' : 's'} in the
          last {range}
          {node ? ` on ${node}` : ` over ${series?.nodes.length ?? 0} node(s)`}.
        </p>
      )}
      <div className="dashboard-charts">
        {charts?.map((chart) => <Chart key={chart.title} title={chart.title} unit={chart.unit} lines={chart.lines} />)}
      </div>

      <section aria-label="Errors">
        <h3>Server-side errors</h3>
        {state.errors && state.errors.length === 0 && <p className="muted">None recorded.</p>}
        {state.errors && state.errors.length > 0 && (
          <table className="table" aria-label="Server-side errors">
            <thead>
              <tr>
                <th>Id</th>
                <th>When</th>
                <th>Node</th>
                <th>What</th>
                <th>Message</th>
              </tr>
            </thead>
            <tbody>
              {state.errors.map((e) => (
                <tr key={e.id} data-error-id={e.id}>
                  <td>
                    <code>{e.id}</code>
                  </td>
                  <td>{when(e.at_ms)}</td>
                  <td>{e.node}</td>
                  <td>
                    {e.kind} <code>{e.code}</code> {e.subject}
                  </td>
                  <td className="muted">{e.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section aria-label="Users">
        <h3>Users, last {state.users?.days ?? 30} days</h3>
        {userLines && userLines.names.length > 0 && <Chart title="Runs per day, busiest users" unit="runs" lines={userLines} />}
        {state.users && (
          <table className="table" aria-label="User analytics">
            <thead>
              <tr>
                <th>User</th>
                <th>Runs</th>
                <th>CPU time</th>
                <th>Languages</th>
                <th>Storage</th>
              </tr>
            </thead>
            <tbody>
              {state.users.users.map((u) => (
                <tr key={u.id} data-username={u.username}>
                  <td>{u.username}</td>
                  <td>{u.runs}</td>
                  <td>{(u.cpu_ms / 1000).toFixed(1)} s</td>
                  <td>{languagesOf(u.languages)}</td>
                  <td>
                    {u.files} files, {formatBytes(u.bytes)}
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

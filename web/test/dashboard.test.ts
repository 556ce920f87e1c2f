import { describe, expect, it } from 'vitest';
import type { MonitorSeries, UserAnalytics } from '../src/api/client';
import { ApiClient } from '../src/api/client';
import {
  align,
  errors,
  languagesOf,
  latency,
  load,
  memory,
  perNode,
  runsByLanguage,
  runsPerNode,
  runsByStatus,
  steps,
  totals,
  userRunsByDay,
} from '../src/components/Dashboard/series';

const MIN = 60_000;
const T0 = 1_700_000_040_000 - (1_700_000_040_000 % MIN);

/** Four minutes, data in the first and third only. */
function hour(): MonitorSeries {
  return {
    range: 'hour',
    step_ms: MIN,
    from_ms: T0,
    to_ms: T0 + 4 * MIN,
    node: null,
    nodes: ['a', 'b'],
    this_node: 'a',
    per_node: [
      { node: 'a', points: [{ t_ms: T0, runs: 4, p95_ms: 80, sessions: 5, boxes: 6, errors: 0 }] },
      { node: 'b', points: [{ t_ms: T0 + 2 * MIN, runs: 2, p95_ms: null, sessions: null, boxes: null, errors: 2 }] },
    ],
    points: [
      {
        t_ms: T0,
        runs: [
          { language: 'python', status: 'ok', runs: 3 },
          { language: 'c', status: 'nonzero', runs: 1 },
        ],
        latency_ms: { p50: 12, p95: 80, p99: 120 },
        errors: 0,
        errors_dropped: 0,
        gauges: { queue_depth: 2, running: 1, sessions: 5, boxes: 6, resident_bytes: 100 * 1048576 },
      },
      {
        t_ms: T0 + 2 * MIN,
        runs: [{ language: 'python', status: 'spawn_failed', runs: 2 }],
        latency_ms: { p50: null, p95: null, p99: null },
        errors: 2,
        errors_dropped: 0,
      },
    ],
  };
}

describe('the Dashboard’s data shaping', () => {
  it('lays every step of the window on the x axis in seconds', () => {
    expect(steps(hour())).toEqual([T0, T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]);
    expect(steps({ from_ms: 0, to_ms: 10, step_ms: 0 })).toEqual([]);
    expect(runsByLanguage(hour()).x).toEqual([T0, T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN].map((t) => t / 1000));
  });

  it('counts runs per minute by language and by status, zero where none ended', () => {
    const languages = runsByLanguage(hour());
    expect(languages.names).toEqual(['c', 'python']);
    expect(languages.columns).toEqual([
      [1, 0, 0, 0],
      [3, 0, 2, 0],
    ]);
    const statuses = runsByStatus(hour());
    expect(statuses.names).toEqual(['nonzero', 'ok', 'spawn_failed']);
    expect(statuses.columns[2]).toEqual([0, 0, 2, 0]);
  });

  it('divides a day’s 10-minute steps into runs per minute', () => {
    const day: MonitorSeries = { ...hour(), range: 'day', step_ms: 10 * MIN, to_ms: T0 + 20 * MIN };
    day.points = [{ ...day.points[0], runs: [{ language: 'python', status: 'ok', runs: 25 }] }];
    expect(runsByLanguage(day).columns).toEqual([[2.5, 0]]);
  });

  it('leaves gaps where there is no latency or gauge sample', () => {
    const p = latency(hour());
    expect(p.names).toEqual(['p50', 'p95', 'p99']);
    expect(p.columns[1]).toEqual([80, null, null, null]);
    const l = load(hour());
    expect(l.names).toEqual(['boxes', 'queued', 'running', 'sessions']);
    expect(l.columns[3]).toEqual([5, null, null, null]);
    expect(memory(hour()).columns).toEqual([[100, null, null, null]]);
  });

  it('puts the nodes side by side, gaps where a node has no figure', () => {
    const runs = runsPerNode(hour());
    expect(runs.names).toEqual(['a', 'b']);
    expect(runs.columns).toEqual([
      [4, 0, 0, 0],
      [0, 0, 2, 0],
    ]);
    const p95 = perNode(hour(), (p) => p.p95_ms);
    expect(p95.columns).toEqual([
      [80, null, null, null],
      [null, null, null, null],
    ]);
    expect(perNode({ ...hour(), per_node: [] }, (p) => p.runs).names).toEqual([]);
  });

  it('counts errors per step and totals the window', () => {
    expect(errors(hour()).columns).toEqual([[0, 0, 2, 0]]);
    const empty = { ...hour(), points: [] };
    expect(errors(empty)).toMatchObject({ names: ['errors'], columns: [[0, 0, 0, 0]] });
    expect(totals(hour())).toEqual({ runs: 6, errors: 2, failedRuns: 3 });
    expect(align(empty, () => ({})).names).toEqual([]);
  });

  it('draws the busiest users’ runs per day and names their languages', () => {
    const DAY = 86_400_000;
    const now = 20_000 * DAY + 5000;
    const today = 20_000 * DAY;
    const user = (username: string, runs: number, days: [number, number][]) => ({
      id: username,
      username,
      runs,
      cpu_ms: 0,
      languages: {},
      files: 0,
      bytes: 0,
      days: days.map(([day_ms, r]) => ({ day_ms, runs: r, cpu_ms: 0, bytes: null })),
    });
    const analytics: UserAnalytics = {
      from_ms: today - 2 * DAY,
      days: 3,
      users: [user('ann', 5, [[today, 4], [today - 2 * DAY, 1]]), user('bob', 1, [[today - DAY, 1]]), user('idle', 0, [])],
    };
    const lines = userRunsByDay(analytics, 5, now);
    expect(lines.names).toEqual(['ann', 'bob']);
    expect(lines.x).toEqual([today - 2 * DAY, today - DAY, today].map((t) => t / 1000));
    expect(lines.columns).toEqual([
      [1, 0, 4],
      [0, 1, 0],
    ]);
    expect(userRunsByDay(analytics, 1, now).names).toEqual(['ann']);
    expect(languagesOf({ c: 3, python: 12, go: 3 })).toBe('python 12, c 3, go 3');
    expect(languagesOf({})).toBe('—');
  });

  it('asks the admin API with the range and node', async () => {
    const asked: string[] = [];
    const api = new ApiClient(async (input) => {
      asked.push(String(input));
      const body = String(input).includes('/errors') ? { errors: [] } : { ...hour(), users: [] };
      return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
    });
    await api.adminMonitoring('day', 'node 1');
    await api.adminErrors(50, null);
    await api.adminUserAnalytics(7);
    expect(asked).toEqual([
      '/api/v1/admin/monitoring?range=day&node=node%201',
      '/api/v1/admin/errors?limit=50',
      '/api/v1/admin/analytics/users?days=7',
    ]);
  });
});

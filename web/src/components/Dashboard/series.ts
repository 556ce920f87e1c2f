// The Dashboard's data shaping: the server's steps (only those with data)
// become uPlot's aligned columns over every step of the window, with
// gaps as null, per language, status, percentile or gauge.

import type { MonitorNodePoint, MonitorPoint, MonitorSeries, UserAnalytics } from '../../api/client';

/** A chart's data: x in Unix seconds, then one column per named line. */
export interface Lines {
  x: number[];
  names: string[];
  columns: (number | null)[][];
}

/** Every step's start (Unix ms) from `from_ms` to `to_ms`. */
export function steps(series: Pick<MonitorSeries, 'from_ms' | 'to_ms' | 'step_ms'>): number[] {
  const out: number[] = [];
  if (series.step_ms <= 0) return out;
  for (let t = series.from_ms; t < series.to_ms; t += series.step_ms) out.push(t);
  return out;
}

/**
 * One line per name that `pick` gives for some step; a step without a
 * point, or without that name, is `null` when `gaps` is true, else 0.
 */
export function align(
  series: MonitorSeries,
  pick: (point: MonitorPoint) => Record<string, number | null | undefined>,
  gaps = true,
): Lines {
  const times = steps(series);
  const byTime = new Map(series.points.map((p) => [p.t_ms, pick(p)]));
  const names = [...new Set(series.points.flatMap((p) => Object.keys(byTime.get(p.t_ms) ?? {})))].sort();
  const columns = names.map((name) =>
    times.map((t) => {
      const values = byTime.get(t);
      const v = values?.[name];
      if (v === undefined || v === null) return gaps ? null : 0;
      return v;
    }),
  );
  return { x: times.map((t) => t / 1000), names, columns };
}

/** Runs per minute over a step of `step_ms`. */
function perMinute(count: number, stepMs: number): number {
  return Math.round((count * 60_000 * 100) / stepMs) / 100;
}

/** Runs per minute by language (all statuses); steps without runs are 0. */
export function runsByLanguage(series: MonitorSeries): Lines {
  return align(series, (p) => sumBy(p, (r) => r.language, series.step_ms), false);
}

/** Runs per minute by status (all languages); steps without runs are 0. */
export function runsByStatus(series: MonitorSeries): Lines {
  return align(series, (p) => sumBy(p, (r) => r.status, series.step_ms), false);
}

function sumBy(point: MonitorPoint, key: (run: MonitorPoint['runs'][number]) => string, stepMs: number) {
  const sums: Record<string, number> = {};
  for (const run of point.runs) sums[key(run)] = (sums[key(run)] ?? 0) + run.runs;
  for (const name of Object.keys(sums)) sums[name] = perMinute(sums[name], stepMs);
  return sums;
}

/** p50, p95 and p99 latency in ms (in that order); steps without runs are gaps. */
export function latency(series: MonitorSeries): Lines {
  return align(series, (p) => ({ p50: p.latency_ms.p50, p95: p.latency_ms.p95, p99: p.latency_ms.p99 }));
}

/** Queue depth, running jobs, sessions and boxes; steps without a sample are gaps. */
export function load(series: MonitorSeries): Lines {
  return align(series, (p) =>
    p.gauges
      ? { queued: p.gauges.queue_depth, running: p.gauges.running, sessions: p.gauges.sessions, boxes: p.gauges.boxes }
      : {},
  );
}

/** The servers' resident memory in MiB; steps without a sample are gaps. */
export function memory(series: MonitorSeries): Lines {
  return align(series, (p) =>
    p.gauges ? { 'server memory (MiB)': Math.round((p.gauges.resident_bytes / 1048576) * 10) / 10 } : {},
  );
}

/** Server-side failures per step (all of them, kept or only counted). */
export function errors(series: MonitorSeries): Lines {
  const lines = align(series, (p) => ({ errors: p.errors }), false);
  return lines.names.length ? lines : { ...lines, names: ['errors'], columns: [lines.x.map(() => 0)] };
}

/**
 * One line per node of the fleet's view (`per_node`), of what `pick` takes
 * from its steps; a step without data is `null` when `gaps`, else 0.
 */
export function perNode(series: MonitorSeries, pick: (point: MonitorNodePoint) => number | null, gaps = true): Lines {
  const times = steps(series);
  const nodes = series.per_node ?? [];
  const columns = nodes.map(({ points }) => {
    const byTime = new Map(points.map((p) => [p.t_ms, pick(p)]));
    return times.map((t) => byTime.get(t) ?? (gaps ? null : 0));
  });
  return { x: times.map((t) => t / 1000), names: nodes.map((n) => n.node), columns };
}

/** Runs per minute of each node. */
export function runsPerNode(series: MonitorSeries): Lines {
  return perNode(series, (p) => perMinute(p.runs, series.step_ms), false);
}

/** The window's totals, for the figures above the charts. */
export function totals(series: MonitorSeries): { runs: number; errors: number; failedRuns: number } {
  let runs = 0;
  let errorsSeen = 0;
  let failedRuns = 0;
  for (const p of series.points) {
    errorsSeen += p.errors;
    for (const r of p.runs) {
      runs += r.runs;
      if (r.status !== 'ok') failedRuns += r.runs;
    }
  }
  return { runs, errors: errorsSeen, failedRuns };
}

/** Runs per day of the `top` most active users (the rest are left out). */
export function userRunsByDay(analytics: UserAnalytics, top = 5, nowMs = Date.now()): Lines {
  const day = 86_400_000;
  const today = nowMs - (nowMs % day);
  const x: number[] = [];
  for (let t = today - (analytics.days - 1) * day; t <= today; t += day) x.push(t);
  const busiest = analytics.users.filter((u) => u.runs > 0).slice(0, top);
  const columns = busiest.map((u) => {
    const runs = new Map(u.days.map((d) => [d.day_ms, d.runs]));
    return x.map((t) => runs.get(t) ?? 0);
  });
  return { x: x.map((t) => t / 1000), names: busiest.map((u) => u.username), columns };
}

/** A user's languages, most used first: `python 12, c 3`. */
export function languagesOf(languages: Record<string, number>): string {
  return (
    Object.entries(languages)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([name, runs]) => `${name} ${runs}`)
      .join(', ') || '—'
  );
}

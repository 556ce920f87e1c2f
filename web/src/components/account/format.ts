// Words and figures shared by the account pages.

import { ApiError, type AdminBox } from '../../api/client';

export function messageOf(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.code === 'rate_limited' && e.retryAfterS) return `${e.message} Try again in ${e.retryAfterS} s.`;
    return e.message;
  }
  return e instanceof Error ? e.message : String(e);
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(1)} GB`;
}

export function when(ms: number | null | undefined): string {
  return ms ? new Date(ms).toLocaleString() : 'never';
}

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


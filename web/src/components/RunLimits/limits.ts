// The limits a run gets, in words and units people read ("30 s wall time",
// "128 MiB memory"), from the `default_limits` of the server's `hello`
// (docs/protocol.md): what applies to the caller's runs before one starts.

import type { RunLimits } from '../../protocol/types';

/** A duration: "250 ms", "1.5 s", "30 s", "5 min", "1 h 30 min". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${+s.toFixed(1)} s`;
  if (s < 3600) {
    const min = Math.floor(s / 60);
    const rest = Math.round(s % 60);
    return rest ? `${min} min ${rest} s` : `${min} min`;
  }
  const h = Math.floor(s / 3600);
  const min = Math.round((s % 3600) / 60);
  return min ? `${h} h ${min} min` : `${h} h`;
}

/** A size in binary units: "512 B", "64 KiB", "128 MiB", "1.5 GiB". */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${+n.toFixed(1)} ${units[i]}`;
}

export interface LimitLine {
  /** The limit's name. */
  name: string;
  /** Its figure, in units. */
  value: string;
  /** What it means for a program, in a short sentence. */
  about: string;
}

/** Each limit the server gave, in the order people ask about them. */
export function limitLines(limits: RunLimits): LimitLine[] {
  const lines: LimitLine[] = [];
  const add = (value: number | undefined, name: string, format: (n: number) => string, about: string) => {
    if (typeof value === 'number' && value > 0) lines.push({ name, value: format(value), about });
  };
  add(limits.wall_time_ms, 'wall time', formatDuration, 'time a run may take; waiting for input does not count');
  add(limits.cpu_time_ms, 'CPU time', formatDuration, 'processor time a run may use');
  add(limits.memory_bytes, 'memory', formatSize, 'memory a run may hold');
  add(limits.cpu_millicores, 'CPU', (n) => `${+(n / 1000).toFixed(2)} ${n === 1000 ? 'core' : 'cores'}`, 'the share of the processor a run gets');
  add(limits.pids, 'processes', String, 'processes and threads a run may have at once');
  add(limits.output_bytes, 'output', formatSize, 'output a run may print; more stops it');
  add(limits.input_wait_ms, 'input wait', formatDuration, 'how long a program may wait for input; a warning comes first');
  return lines;
}

/** The lines as one text: "30 s wall time, 30 s CPU time, 128 MiB memory, …". */
export function limitsSummary(limits: RunLimits): string {
  return limitLines(limits)
    .map((l) => `${l.value} ${l.name}`)
    .join(', ');
}

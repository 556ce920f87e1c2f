import { describe, expect, it } from 'vitest';
import { formatDuration, formatSize, limitLines, limitsSummary } from '../src/components/RunLimits/limits';

describe('limits in words', () => {
  it('formats durations', () => {
    expect(formatDuration(250)).toBe('250 ms');
    expect(formatDuration(1500)).toBe('1.5 s');
    expect(formatDuration(30_000)).toBe('30 s');
    expect(formatDuration(300_000)).toBe('5 min');
    expect(formatDuration(90_000)).toBe('1 min 30 s');
    expect(formatDuration(3_600_000)).toBe('1 h');
    expect(formatDuration(5_400_000)).toBe('1 h 30 min');
  });

  it('formats sizes in binary units', () => {
    expect(formatSize(512)).toBe('512 B');
    expect(formatSize(64 * 1024)).toBe('64 KiB');
    expect(formatSize(128 * 1024 * 1024)).toBe('128 MiB');
    expect(formatSize(1024 * 1024)).toBe('1 MiB');
    expect(formatSize(1.5 * 1024 ** 3)).toBe('1.5 GiB');
  });

  it('lists the server’s default limits in the order people ask about them', () => {
    // The design brief's defaults (crates/sandbox/src/limits.rs).
    const limits = {
      memory_bytes: 134217728,
      cpu_millicores: 500,
      pids: 128,
      wall_time_ms: 30000,
      input_wait_ms: 300000,
      cpu_time_ms: 30000,
      output_bytes: 1048576,
      open_files: 256,
    };
    expect(limitLines(limits).map((l) => `${l.value} ${l.name}`)).toEqual([
      '30 s wall time',
      '30 s CPU time',
      '128 MiB memory',
      '0.5 cores CPU',
      '128 processes',
      '1 MiB output',
      '5 min input wait',
    ]);
    expect(limitsSummary({ wall_time_ms: 10_000, memory_bytes: 256 * 1024 * 1024 })).toBe('10 s wall time, 256 MiB memory');
  });

  it('leaves out what the server did not give', () => {
    expect(limitLines({})).toEqual([]);
    expect(limitLines({ cpu_millicores: 1000 })[0].value).toBe('1 core');
  });
});

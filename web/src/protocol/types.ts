// Protocol v1 messages (docs/protocol.md; crates/server/src/protocol.rs).

export type Encoding = 'utf8' | 'base64';

export interface WireFile {
  path: string;
  content: string;
  encoding?: Encoding;
}

export interface RunLimits {
  memory_bytes?: number;
  cpu_millicores?: number;
  pids?: number;
  wall_time_ms?: number;
  cpu_time_ms?: number;
  output_bytes?: number;
  open_files?: number;
  file_size_bytes?: number;
  stack_bytes?: number;
}

export interface RunRequest {
  id: string;
  language?: string;
  /** The files to run; or `project` names a saved project whose files the server reads. */
  files?: WireFile[];
  project?: string;
  entry?: string;
  args?: string[];
  stdin?: string;
  tty?: { rows: number; cols: number } | null;
  limits?: RunLimits;
}

export type ClientMessage =
  | ({ type: 'run' } & RunRequest)
  | { type: 'stdin'; id: string; data: string; encoding?: Encoding }
  | { type: 'eof'; id: string }
  | { type: 'resize'; id: string; rows: number; cols: number }
  | { type: 'signal'; id: string; signal: string }
  | { type: 'kill'; id: string }
  | { type: 'ping'; nonce?: string };

export type ExitStatus =
  | 'ok'
  | 'nonzero'
  | 'signaled'
  | 'timeout'
  | 'cpu_limit'
  | 'memory_limit'
  | 'output_limit'
  | 'killed';

export type ServerMessage =
  | {
      type: 'hello';
      session: string;
      resume: string;
      protocol: number;
      default_limits: RunLimits;
      max_limits: RunLimits;
    }
  | { type: 'accepted'; id: string; language: string; version: string }
  | { type: 'queued'; id: string; position: number }
  | { type: 'stage'; id: string; stage: string }
  | { type: 'output'; id: string; stage: string; stream: 'stdout' | 'stderr'; data: string; encoding: Encoding }
  | {
      type: 'exit';
      id: string;
      stage: string;
      code: number | null;
      signal: number | null;
      status: ExitStatus;
      wall_ms: number;
      cpu_ms: number;
      memory_bytes: number;
    }
  | { type: 'done'; id: string }
  | { type: 'error'; id?: string; code: string; message: string }
  | { type: 'pong'; nonce: string | null }
  | { type: 'output_dropped'; id: string; bytes: number };

/** Messages that concern one run. */
export type RunMessage = Exclude<ServerMessage, { type: 'hello' } | { type: 'pong' }>;

/** Decodes output `data` to bytes. */
export function decodeData(data: string, encoding: Encoding): Uint8Array {
  if (encoding === 'base64') {
    const binary = atob(data);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }
  return new TextEncoder().encode(data);
}

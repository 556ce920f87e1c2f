// Protocol v1 messages (docs/protocol.md; crates/server/src/protocol.rs).

import type { SqlResult } from '../sql/results';

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
  input_wait_ms?: number;
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
  /** SQL servers only: `sql_result` frames instead of the client's text (src/sql/results.ts). */
  sql_results?: boolean;
  /** With `sql_results`: the files go beside the project (the server's scratch folder), not in its place. */
  scratch?: boolean;
}

export type ClientMessage =
  | ({ type: 'run' } & RunRequest)
  | { type: 'stdin'; id: string; data: string; encoding?: Encoding }
  | { type: 'eof'; id: string }
  | { type: 'resize'; id: string; rows: number; cols: number }
  | { type: 'signal'; id: string; signal: string }
  | { type: 'kill'; id: string }
  | { type: 'reset_database'; id: string }
  | { type: 'terminal_open'; id: string; rows: number; cols: number }
  | { type: 'terminal_input'; id: string; data: string; encoding?: Encoding }
  | { type: 'terminal_resize'; id: string; rows: number; cols: number }
  | { type: 'terminal_close'; id: string }
  | { type: 'kernel_start'; id: string; language: string }
  | { type: 'kernel_execute'; id: string; request: string; code: string; allow_stdin?: boolean }
  | { type: 'kernel_input'; id: string; request: string; value: string }
  | { type: 'kernel_interrupt'; id: string }
  | { type: 'kernel_restart'; id: string }
  | { type: 'kernel_complete'; id: string; request: string; code: string; cursor_pos: number }
  | { type: 'kernel_inspect'; id: string; request: string; code: string; cursor_pos: number; detail_level?: 0 | 1 }
  | { type: 'kernel_shutdown'; id: string }
  | { type: 'lsp_start'; id: string; language: string; files?: { path: string; content: string }[] }
  | { type: 'lsp_message'; id: string; message: unknown }
  | { type: 'lsp_files'; id: string; files: { path: string; content: string }[] }
  | { type: 'lsp_stop'; id: string }
  | { type: 'files_watch' }
  | { type: 'files_unwatch' }
  | { type: 'files_write'; id: string; files: WireFile[] }
  | { type: 'files_delete'; id: string; paths: string[] }
  | { type: 'git'; id: string; args: string[]; files?: WireFile[] }
  /** The signed-in user's project the session's box holds (null: none). */
  | { type: 'project'; id: string | null }
  | { type: 'ping'; nonce?: string };

/** One file's change in the session's workspace (`files_changed`). */
export interface FileChange {
  path: string;
  op: 'write' | 'delete';
  /** The bytes in `encoding` (absent for a delete, or with `omitted`). */
  data?: string;
  encoding?: Encoding;
  size?: number;
  executable?: boolean;
  /** Why a write came without bytes: `too_large`. */
  omitted?: string;
}

/** What the workspace watch left out, as of its last scan. */
export interface LeftOut {
  ignored: number;
  unlisted: number;
  truncated: boolean;
  pending: number;
}

/** A terminal open in a session, as a resumed `hello` lists it. */
export interface OpenTerminal {
  id: string;
  rows: number;
  cols: number;
}

export type ExitStatus =
  | 'ok'
  | 'nonzero'
  | 'signaled'
  | 'timeout'
  | 'input_timeout'
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
      terminals?: OpenTerminal[];
    }
  | { type: 'accepted'; id: string; language: string; version: string; entry?: string }
  | { type: 'queued'; id: string; position: number }
  | { type: 'stage'; id: string; stage: string }
  | { type: 'output'; id: string; stage: string; stream: 'stdout' | 'stderr'; data: string; encoding: Encoding }
  | { type: 'notice'; id: string; stage: string; text: string }
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
  | { type: 'error'; id?: string; terminal?: string; code: string; message: string }
  | { type: 'pong'; nonce: string | null }
  | { type: 'files_watching'; max_file_bytes: number; max_entries: number; interval_ms: number }
  | { type: 'files_changed'; changes: FileChange[]; left_out: LeftOut }
  | { type: 'files_written'; id: string; count: number }
  | { type: 'files_deleted'; id: string; count: number }
  | { type: 'output_dropped'; id: string; bytes: number }
  | { type: 'database_reset'; id: string }
  | { type: 'sql_result'; id: string; result: SqlResult }
  | { type: 'terminal_opened'; id: string }
  | { type: 'terminal_output'; id: string; offset: number; data: string; encoding: Encoding }
  | { type: 'terminal_exit'; id: string; code: number | null; signal: number | null; status: ExitStatus }
  | { type: 'kernel_ready'; id: string; language: string; language_info: Record<string, unknown>; restarted: boolean }
  | {
      type: 'kernel_message';
      id: string;
      channel: 'iopub' | 'shell' | 'stdin' | 'control';
      msg_type: string;
      /** The request id this message answers, or null. */
      parent: string | null;
      content: Record<string, unknown>;
      metadata: Record<string, unknown>;
    }
  | {
      type: 'kernel_exited';
      id: string;
      /** A run status, or `message_too_large`, `culled`, `shutdown`. */
      status: string;
      exit_code: number | null;
      signal: number | null;
      memory_bytes: number;
    }
  | LspMessage
  | GitMessage
  | { type: 'project_attached'; id: string | null }
  | { type: 'project_error'; id: string | null; code: string; message: string }
  | ProjectGitMessage;

/** What became of the project's saved repository (docs/protocol.md, "Git"). */
export type ProjectGitMessage = {
  type: 'project_git';
  project: string;
  event: 'saved' | 'not_saved' | 'restored' | 'not_restored';
  bytes?: number;
  code?: string;
  message?: string;
  /** The server's own failure: the id of its log line. */
  error_id?: string;
};

/** The answers to `git` frames (docs/protocol.md, "Git"). */
export type GitMessage =
  | {
      type: 'git_result';
      id: string;
      /** A run status: `ok` and `nonzero` are git's answer; `timeout`, `output_limit`… the server stopped it. */
      status: ExitStatus;
      exit_code: number | null;
      signal: number | null;
      stdout: string;
      stdout_encoding: Encoding;
      stderr: string;
      stderr_encoding: Encoding;
      /** The session's box was made for this command: it held only the frame's files. */
      fresh_box: boolean;
      wall_ms: number;
    }
  | { type: 'git_error'; id: string; code: string; message: string };

/** Frames about a language server (docs/protocol.md, "Language servers"). */
export type LspMessage =
  | {
      type: 'lsp_ready';
      id: string;
      language: string;
      language_id: string;
      root_uri: string;
      initialization_options: unknown;
      settings: unknown;
    }
  | { type: 'lsp_message'; id: string; message: unknown }
  | {
      type: 'lsp_exited';
      id: string;
      status: string;
      exit_code: number | null;
      signal: number | null;
      memory_bytes: number;
      message: string;
    }
  | { type: 'lsp_error'; id: string; code: string; message: string };


/** Messages about terminals (the `error`s about one carry `terminal`). */
export type TerminalMessage = Extract<ServerMessage, { type: `terminal_${string}` }>;

/** Messages about notebook kernels (the `error`s about one carry its id as `id`). */
export type KernelMessage = Extract<ServerMessage, { type: `kernel_${string}` }>;

/** Messages that concern one run. */
export type RunMessage = Exclude<
  ServerMessage,
  { type: 'hello' } | { type: 'pong' } | TerminalMessage | KernelMessage | LspMessage
>;

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

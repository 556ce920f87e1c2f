// The HTTP API of accounts, projects and admin (docs/api.md, "Accounts,
// projects and admin"): typed calls, one error type.
//
// Every call is same-origin with the session cookie; writes carry the
// CSRF token the server gave with `Me` (or, failing that, the `bbx_csrf`
// cookie's value).

import type { RunLimits } from '../protocol/types';

export interface User {
  id: string;
  username: string;
  role: 'user' | 'admin' | string;
  plan: string;
  disabled: boolean;
  created_at_ms: number;
}

export interface Plan {
  name: string;
  limits: RunLimits;
  max_limits: RunLimits;
  max_concurrent_runs: number;
  max_projects: number;
  max_files: number;
  max_bytes: number;
}

export interface Usage {
  projects: number;
  files: number;
  bytes: number;
}

export interface Me {
  user: User | null;
  guest: boolean;
  csrf: string | null;
  plan: Plan | null;
  usage: Usage | null;
}

export interface Token {
  id: string;
  name: string;
  created_at_ms: number;
  last_used_at_ms: number | null;
}

export interface ServerProject {
  id: string;
  name: string;
  language: string | null;
  entry_file: string | null;
  version: number;
  created_at_ms: number;
  updated_at_ms: number;
}

export interface ServerFile {
  path: string;
  size_bytes: number;
  version: number;
  updated_at_ms: number;
}

export interface NewFile {
  path: string;
  content: string;
  encoding?: 'utf8' | 'base64';
}

export interface AdminUser extends User {
  usage: Usage | null;
  /** Runs going now, over all the user's sessions. */
  running?: number;
}

/**
 * A box's resource use. docs/api.md names `cpu_time_ms` and `pids`; the
 * server also reports `active_runs`, `total_runs` and `idle_ms`, and
 * `memory_bytes` only when the backend can tell: every figure is optional.
 */
export interface AdminBox {
  id: string;
  session?: string | null;
  memory_bytes?: number | null;
  cpu_time_ms?: number | null;
  pids?: number | null;
  active_runs?: number;
  total_runs?: number;
  idle_ms?: number;
}

/** `GET /api/v1/admin/storage`: who stores the most, and the server's total against its caps. */
export interface AdminStorage {
  total_bytes: number;
  /** The server-wide budget; `null`: none. */
  budget_bytes: number | null;
  /** The data disk's free bytes (`null` with remote object storage) and the watermark below which writes stop. */
  disk: { free_bytes: number | null; min_free_bytes: number };
  /** The users who store the most, most first. */
  users: { id: string; username: string; projects: number; files: number; bytes: number }[];
}

/** One step of `GET /api/v1/admin/monitoring`: the fleet's (or a node's) minutes added up. */
export interface MonitorPoint {
  /** The step's start (Unix ms). */
  t_ms: number;
  /** Runs that ended, by language and status (the last stage's, or the job's outcome). */
  runs: { language: string; status: string; runs: number }[];
  /** Latency percentiles, `null` without runs. */
  latency_ms: { p50: number | null; p95: number | null; p99: number | null };
  /** Server-side failures; of those, `errors_dropped` were only counted. */
  errors: number;
  errors_dropped: number;
  /** Sampled at the nodes' flushes, added over nodes, the mean over the step; absent without a sample. */
  gauges?: { queue_depth: number; running: number; sessions: number; boxes: number; resident_bytes: number };
}

/** `GET /api/v1/admin/monitoring`: the last hour (per minute) or day (per 10 minutes). */
export interface MonitorSeries {
  range: 'hour' | 'day';
  step_ms: number;
  from_ms: number;
  to_ms: number;
  /** The node shown; `null`: the fleet. */
  node: string | null;
  /** Nodes that wrote minutes in the window. */
  nodes: string[];
  this_node: string;
  /** Steps with data, oldest first (steps without any are left out). */
  points: MonitorPoint[];
  /** In the fleet's view (no `node`), each node's main figures side by side (20 nodes at the most). */
  per_node: { node: string; points: MonitorNodePoint[] }[];
}

/** A step of one node in `MonitorSeries.per_node`. */
export interface MonitorNodePoint {
  t_ms: number;
  runs: number;
  p95_ms: number | null;
  /** `null` without a gauge sample. */
  sessions: number | null;
  boxes: number | null;
  errors: number;
}

/** A server-side failure (`GET /api/v1/admin/errors`); `id` is in the server's log line. */
export interface MonitorError {
  id: string;
  node: string;
  at_ms: number;
  kind: 'http' | 'run' | 'box' | string;
  code: string;
  /** The route (`POST /api/v1/execute`) or the run's language. */
  subject: string;
  message: string;
}

/** `GET /api/v1/admin/analytics/users`: per user over the last `days` days. */
export interface UserAnalytics {
  from_ms: number;
  days: number;
  users: {
    id: string;
    username: string;
    runs: number;
    cpu_ms: number;
    /** Runs per language. */
    languages: Record<string, number>;
    /** Stored now. */
    files: number;
    bytes: number;
    /** Per day: runs, CPU time and the day's storage sample (`null`: none). */
    days: { day_ms: number; runs: number; cpu_ms: number; bytes: number | null }[];
  }[];
}

export interface AdminSession {
  id: string;
  owner: { user_id: string; username: string } | { guest: string } | { anonymous: true };
  connected: boolean;
  runs: number;
  box: AdminBox | null;
}

/**
 * Any failure of a call: the server's error (`code`, `message`, and
 * `currentVersion` for a 409 `conflict`), or `network` when no answer came
 * (offline, server down), with `status` 0.
 */
/** One language of the server's catalog (`GET /api/v1/runtimes`). */
export interface Runtime {
  id: string;
  name: string;
  aliases: string[];
  extensions: string[];
  /** Its tools are installed on this server. */
  available: boolean;
  version?: string | null;
  /** Why it is not available. */
  reason?: string | null;
  /**
   * Picked only when a run names it, never by a file's extension (the SQL
   * servers: a `.sql` file is SQLite's unless the run says otherwise).
   */
  named_only?: boolean;
  /** Its runs may ask for structured results (`sql_results`): the SQL servers. */
  sql_results?: boolean;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly currentVersion: number | null = null,
    readonly retryAfterS: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** No answer, or one saying "try again later": worth retrying as it is. */
  get transient(): boolean {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** A workspace-relative path in a URL, encoded segment by segment. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

export class ApiClient {
  /** The CSRF token of the signed-in session (from `Me`). */
  csrf: string | null = null;

  constructor(
    private fetchImpl: FetchLike = (input, init) => fetch(input, init),
    private base = '',
    private cookies: () => string = () => (typeof document === 'undefined' ? '' : document.cookie),
  ) {}

  private csrfToken(): string | null {
    if (this.csrf) return this.csrf;
    const m = this.cookies().match(/(?:^|;\s*)bbx_csrf=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : null;
  }

  /** One request; the answer's body is returned unparsed. */
  async request(method: string, path: string, body?: BodyInit | object, contentType?: string): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    let payload: BodyInit | undefined;
    if (body instanceof Uint8Array || body instanceof Blob || body instanceof ArrayBuffer || typeof body === 'string') {
      payload = body as BodyInit;
      headers['Content-Type'] = contentType ?? 'application/octet-stream';
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
    }
    if (method !== 'GET' && method !== 'HEAD') {
      const token = this.csrfToken();
      if (token) headers['X-CSRF-Token'] = token;
    }
    let response: Response;
    try {
      // A small write may outlive the page (autosave when the tab closes).
      const size = payload instanceof Uint8Array ? payload.length : typeof payload === 'string' ? payload.length : Infinity;
      const keepalive = method !== 'GET' && size < 60000;
      response = await this.fetchImpl(this.base + path, {
        method,
        headers,
        body: payload,
        credentials: 'same-origin',
        ...(keepalive ? { keepalive } : {}),
      });
    } catch (e) {
      throw new ApiError(0, 'network', `The server could not be reached (${e instanceof Error ? e.message : String(e)})`);
    }
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  async json<T>(method: string, path: string, body?: object): Promise<T> {
    const response = await this.request(method, path, body);
    if (response.status === 204) return undefined as T;
    try {
      return (await response.json()) as T;
    } catch {
      throw new ApiError(response.status, 'invalid_answer', `The server's answer to ${method} ${path} was not JSON`);
    }
  }

  // ---- the catalog ----

  async runtimes(): Promise<Runtime[]> {
    const list = await this.json<Runtime[]>('GET', '/api/v1/runtimes');
    return Array.isArray(list) ? list : [];
  }

  // ---- auth ----

  async me(): Promise<Me> {
    return this.remember(await this.json<Me>('GET', '/api/v1/auth/me'));
  }

  async signUp(username: string, password: string): Promise<Me> {
    return this.remember(await this.json<Me>('POST', '/api/v1/auth/signup', { username, password }));
  }

  async signIn(username: string, password: string): Promise<Me> {
    return this.remember(await this.json<Me>('POST', '/api/v1/auth/login', { username, password }));
  }

  async signOut(): Promise<void> {
    await this.json<void>('POST', '/api/v1/auth/logout');
    this.csrf = null;
  }

  private remember(me: Me): Me {
    this.csrf = me.csrf ?? null;
    return me;
  }

  async tokens(): Promise<Token[]> {
    return (await this.json<{ tokens: Token[] }>('GET', '/api/v1/auth/tokens')).tokens;
  }

  createToken(name: string): Promise<{ token: Token; secret: string }> {
    return this.json('POST', '/api/v1/auth/tokens', { name });
  }

  async revokeToken(id: string): Promise<void> {
    await this.json<void>('DELETE', `/api/v1/auth/tokens/${encodeURIComponent(id)}`);
  }

  async plans(): Promise<Plan[]> {
    return (await this.json<{ plans: Plan[] }>('GET', '/api/v1/plans')).plans;
  }

  // ---- projects ----

  async projects(): Promise<ServerProject[]> {
    return (await this.json<{ projects: ServerProject[] }>('GET', '/api/v1/projects')).projects;
  }

  createProject(body: {
    name: string;
    language?: string | null;
    entry_file?: string | null;
    files?: NewFile[];
  }): Promise<{ project: ServerProject; files: ServerFile[] }> {
    return this.json('POST', '/api/v1/projects', body);
  }

  project(id: string): Promise<{ project: ServerProject; files: ServerFile[] }> {
    return this.json('GET', `/api/v1/projects/${encodeURIComponent(id)}`);
  }

  async updateProject(
    id: string,
    body: { version: number; name: string; language: string | null; entry_file: string | null },
  ): Promise<ServerProject> {
    return (await this.json<{ project: ServerProject }>('PUT', `/api/v1/projects/${encodeURIComponent(id)}`, body)).project;
  }

  async deleteProject(id: string, version: number): Promise<void> {
    await this.json<void>('DELETE', `/api/v1/projects/${encodeURIComponent(id)}?version=${version}`);
  }

  duplicateProject(id: string, name: string): Promise<{ project: ServerProject; files: ServerFile[] }> {
    return this.json('POST', `/api/v1/projects/${encodeURIComponent(id)}/duplicate`, { name });
  }

  /** A file's bytes and version. */
  async readFile(id: string, path: string): Promise<{ bytes: Uint8Array; version: number }> {
    const response = await this.request('GET', `/api/v1/projects/${encodeURIComponent(id)}/files/${encodePath(path)}`);
    const version = Number(response.headers.get('X-Bytesbox-Version') ?? NaN);
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (!Number.isInteger(version)) {
      throw new ApiError(response.status, 'invalid_answer', `The server sent ${path} without its version`);
    }
    return { bytes, version };
  }

  /** Writes a file based on `version` (0: it does not exist yet). */
  async writeFile(id: string, path: string, bytes: Uint8Array, version: number): Promise<ServerFile> {
    const response = await this.request(
      'PUT',
      `/api/v1/projects/${encodeURIComponent(id)}/files/${encodePath(path)}?version=${version}`,
      bytes,
    );
    return ((await response.json()) as { file: ServerFile }).file;
  }

  async deleteFile(id: string, path: string, version: number): Promise<void> {
    await this.request('DELETE', `/api/v1/projects/${encodeURIComponent(id)}/files/${encodePath(path)}?version=${version}`);
  }

  // ---- admin ----

  async adminUsers(): Promise<AdminUser[]> {
    return (await this.json<{ users: AdminUser[] }>('GET', '/api/v1/admin/users')).users;
  }

  async adminUpdateUser(id: string, change: { plan?: string; disabled?: boolean; role?: string }): Promise<User> {
    return (await this.json<{ user: User }>('PATCH', `/api/v1/admin/users/${encodeURIComponent(id)}`, change)).user;
  }

  async adminSessions(): Promise<AdminSession[]> {
    return (await this.json<{ sessions: AdminSession[] }>('GET', '/api/v1/admin/sessions')).sessions;
  }

  async adminKillSession(id: string): Promise<void> {
    await this.json<void>('DELETE', `/api/v1/admin/sessions/${encodeURIComponent(id)}`);
  }

  async adminBoxes(): Promise<AdminBox[]> {
    return (await this.json<{ boxes: AdminBox[] }>('GET', '/api/v1/admin/boxes')).boxes;
  }

  async adminStorage(limit = 20): Promise<AdminStorage> {
    return this.json<AdminStorage>('GET', `/api/v1/admin/storage?limit=${limit}`);
  }

  async adminMonitoring(range: 'hour' | 'day', node: string | null): Promise<MonitorSeries> {
    const query = `range=${range}${node ? `&node=${encodeURIComponent(node)}` : ''}`;
    return this.json<MonitorSeries>('GET', `/api/v1/admin/monitoring?${query}`);
  }

  async adminErrors(limit = 100, node: string | null = null): Promise<MonitorError[]> {
    const query = `limit=${limit}${node ? `&node=${encodeURIComponent(node)}` : ''}`;
    return (await this.json<{ errors: MonitorError[] }>('GET', `/api/v1/admin/errors?${query}`)).errors;
  }

  async adminUserAnalytics(days = 30): Promise<UserAnalytics> {
    return this.json<UserAnalytics>('GET', `/api/v1/admin/analytics/users?days=${days}`);
  }
}

/** The server's error body as an `ApiError` (or a plain one when the body is not ours). */
async function errorOf(response: Response): Promise<ApiError> {
  const retry = Number(response.headers.get('Retry-After') ?? NaN);
  const retryAfter = Number.isFinite(retry) ? retry : null;
  let text = '';
  try {
    text = await response.text();
  } catch {
    /* no body */
  }
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; current_version?: unknown } };
    const e = body.error;
    if (e && typeof e.code === 'string') {
      return new ApiError(
        response.status,
        e.code,
        typeof e.message === 'string' ? e.message : e.code,
        typeof e.current_version === 'number' ? e.current_version : null,
        retryAfter,
      );
    }
  } catch {
    /* not JSON */
  }
  return new ApiError(response.status, `http_${response.status}`, `HTTP ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}`, null, retryAfter);
}

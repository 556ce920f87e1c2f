// An in-memory stand-in for the projects API (docs/api.md), as a `fetch`:
// versions, conflicts and not-found as the contract says, plus switches
// to go "offline" and a log of every request.

import type { FetchLike } from '../src/api/client';

interface FakeFile {
  bytes: Uint8Array;
  version: number;
}

interface FakeProject {
  id: string;
  name: string;
  language: string | null;
  entry_file: string | null;
  version: number;
  files: Map<string, FakeFile>;
}

export class FakeServer {
  projects = new Map<string, FakeProject>();
  log: { method: string; url: string; headers: Record<string, string>; credentials?: string }[] = [];
  offline = false;
  csrf = 'csrf-123';
  private next = 1;

  fetch: FetchLike = async (input, init = {}) => {
    const method = init.method ?? 'GET';
    const headers = (init.headers ?? {}) as Record<string, string>;
    this.log.push({ method, url: input, headers, credentials: init.credentials });
    if (this.offline) throw new TypeError('Failed to fetch');
    if (method !== 'GET' && headers['X-CSRF-Token'] !== this.csrf) return error(403, 'csrf_failed', 'bad csrf');
    const url = new URL(input, 'http://ide.test');
    const parts = url.pathname.split('/').slice(1); // api v1 ...
    const body = init.body;
    const json = () => JSON.parse(String(body));
    const version = Number(url.searchParams.get('version'));
    if (parts[2] === 'auth' && parts[3] === 'me') return ok(me(this.csrf));
    if (parts[2] !== 'projects') return error(404, 'not_found', 'no such route');
    const id = parts[3];
    if (!id) {
      if (method === 'GET') return ok({ projects: [...this.projects.values()].map(view) });
      const b = json();
      if ([...this.projects.values()].some((x) => x.name === b.name)) return error(409, 'name_taken', 'a project with that name already exists');
      const p = this.add(b.name, b.language ?? null, b.entry_file ?? null);
      for (const f of b.files ?? []) {
        const bytes = f.encoding === 'base64' ? Uint8Array.from(atob(f.content), (c) => c.charCodeAt(0)) : new TextEncoder().encode(f.content);
        p.files.set(f.path, { bytes, version: 1 });
      }
      return ok({ project: view(p), files: filesOf(p) }, 201);
    }
    const p = this.projects.get(id);
    if (!p) return error(404, 'not_found', 'no such project');
    if (parts.length === 4) {
      if (method === 'GET') return ok({ project: view(p), files: filesOf(p) });
      if (method === 'PUT') {
        const b = json();
        if (b.version !== p.version) return conflict(p.version);
        Object.assign(p, { name: b.name, language: b.language, entry_file: b.entry_file, version: p.version + 1 });
        return ok({ project: view(p) });
      }
      if (method === 'DELETE') {
        if (version !== p.version) return conflict(p.version);
        this.projects.delete(id);
        return new Response(null, { status: 204 });
      }
    }
    if (parts[4] === 'duplicate') {
      const copy = this.add(json().name, p.language, p.entry_file);
      for (const [path, f] of p.files) copy.files.set(path, { ...f, version: 1 });
      return ok({ project: view(copy), files: filesOf(copy) }, 201);
    }
    if (parts[4] === 'files') {
      const path = parts.slice(5).map(decodeURIComponent).join('/');
      const f = p.files.get(path);
      if (method === 'GET') {
        if (!f) return error(404, 'not_found', 'no such file');
        return new Response(f.bytes as BodyInit, { status: 200, headers: { 'X-Bytesbox-Version': String(f.version) } });
      }
      if (version !== (f?.version ?? 0)) return conflict(f?.version ?? 0);
      if (method === 'PUT') {
        const bytes = new Uint8Array(body as Uint8Array);
        const file = { bytes, version: version + 1 };
        p.files.set(path, file);
        return ok({ file: { path, size_bytes: bytes.length, version: file.version, updated_at_ms: 1 } });
      }
      if (method === 'DELETE') {
        p.files.delete(path);
        return new Response(null, { status: 204 });
      }
    }
    return error(404, 'not_found', 'no such route');
  };

  add(name: string, language: string | null = null, entry: string | null = null): FakeProject {
    const p: FakeProject = { id: `p${this.next++}`, name, language, entry_file: entry, version: 1, files: new Map() };
    this.projects.set(p.id, p);
    return p;
  }

  text(id: string, path: string): string | undefined {
    const f = this.projects.get(id)?.files.get(path);
    return f ? new TextDecoder().decode(f.bytes) : undefined;
  }

  /** Another tab's write. */
  writeBehind(id: string, path: string, text: string) {
    const p = this.projects.get(id)!;
    const f = p.files.get(path);
    p.files.set(path, { bytes: new TextEncoder().encode(text), version: (f?.version ?? 0) + 1 });
  }

  writes() {
    return this.log.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.url}`);
  }
}

function view(p: FakeProject) {
  return { id: p.id, name: p.name, language: p.language, entry_file: p.entry_file, version: p.version, created_at_ms: 1, updated_at_ms: 1 };
}

function filesOf(p: FakeProject) {
  return [...p.files].map(([path, f]) => ({ path, size_bytes: f.bytes.length, version: f.version, updated_at_ms: 1 }));
}

function me(csrf: string) {
  return {
    user: { id: 'u1', username: 'alice', role: 'user', plan: 'default', disabled: false, created_at_ms: 1 },
    guest: false,
    csrf,
    plan: null,
    usage: { projects: 0, files: 0, bytes: 0 },
  };
}

function ok(body: unknown, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

function error(status: number, code: string, message: string, extra: object = {}) {
  return new Response(JSON.stringify({ error: { code, message, ...extra } }), { status, headers: { 'Content-Type': 'application/json' } });
}

function conflict(current: number) {
  return error(409, 'conflict', 'the file changed since you loaded it', { current_version: current });
}

import { describe, expect, it } from 'vitest';
import { ApiClient, ApiError, encodePath, type FetchLike } from '../src/api/client';
import { FakeServer } from './fakeserver';
import { RuntimesStore } from '../src/store/runtimes';
import { catalogRuntimes } from './catalog';

function recording(answer: () => Response | Promise<Response>) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetch: FetchLike = async (url, init = {}) => {
    calls.push({ url, init });
    return answer();
  };
  return { calls, fetch };
}

describe('ApiClient', () => {
  it('sends the session cookie, and the CSRF token from Me on writes only', async () => {
    const server = new FakeServer();
    const api = new ApiClient(server.fetch);
    const me = await api.me();
    expect(me.user?.username).toBe('alice');
    expect(api.csrf).toBe('csrf-123');
    const { project } = await api.createProject({ name: 'P', files: [{ path: 'main.py', content: 'print(1)' }] });
    await api.projects();
    expect(server.log.every((r) => r.credentials === 'same-origin')).toBe(true);
    const [getMe, post, list] = server.log;
    expect(getMe.headers['X-CSRF-Token']).toBeUndefined();
    expect(post.headers['X-CSRF-Token']).toBe('csrf-123');
    expect(list.headers['X-CSRF-Token']).toBeUndefined();
    expect(server.text(project.id, 'main.py')).toBe('print(1)');
  });

  it('falls back to the bbx_csrf cookie before Me was read', async () => {
    const { calls, fetch } = recording(() => new Response(null, { status: 204 }));
    const api = new ApiClient(fetch, '', () => 'theme=dark; bbx_csrf=abc%3D; other=1');
    await api.signOut();
    expect((calls[0].init.headers as Record<string, string>)['X-CSRF-Token']).toBe('abc=');
    expect(calls[0].init.method).toBe('POST');
    expect(calls[0].url).toBe('/api/v1/auth/logout');
  });

  it('reads the admin storage listing, and a full server as 507 storage_full', async () => {
    const listing = {
      total_bytes: 900,
      budget_bytes: 1000,
      disk: { free_bytes: null, min_free_bytes: 1024 },
      users: [{ id: 'u1', username: 'bob', projects: 1, files: 2, bytes: 900 }],
    };
    const { calls, fetch } = recording(() => Response.json(listing));
    const storage = await new ApiClient(fetch).adminStorage(5);
    expect(calls[0].url).toBe('/api/v1/admin/storage?limit=5');
    expect(storage.users[0].username).toBe('bob');
    expect(storage.budget_bytes).toBe(1000);
    const full = { error: { code: 'storage_full', message: "the server's storage budget is used up", reason: 'budget' } };
    const refusing = recording(() => Response.json(full, { status: 507 }));
    const e = (await new ApiClient(refusing.fetch).adminStorage().catch((e: unknown) => e)) as ApiError;
    expect([e.status, e.code]).toEqual([507, 'storage_full']);
  });

  it("turns the server's error into an ApiError with code, message and current_version", async () => {
    const server = new FakeServer();
    const api = new ApiClient(server.fetch);
    await api.me();
    const { project } = await api.createProject({ name: 'P', files: [{ path: 'a.txt', content: 'x' }] });
    const e = await api.writeFile(project.id, 'a.txt', new TextEncoder().encode('y'), 0).catch((e: unknown) => e);
    expect(e).toBeInstanceOf(ApiError);
    const err = e as ApiError;
    expect(err.status).toBe(409);
    expect(err.code).toBe('conflict');
    expect(err.message).toMatch(/changed/);
    expect(err.currentVersion).toBe(1);
    expect(err.transient).toBe(false);
  });

  it('reports no answer as a transient `network` error, and a foreign body by its status', async () => {
    const down = new ApiClient(async () => {
      throw new TypeError('Failed to fetch');
    });
    const e1 = (await down.projects().catch((e: unknown) => e)) as ApiError;
    expect([e1.status, e1.code, e1.transient]).toEqual([0, 'network', true]);
    expect(e1.message).toMatch(/Failed to fetch/);

    const proxy = new ApiClient(async () => new Response('<html>Bad gateway</html>', { status: 502, headers: { 'Retry-After': '3' } }));
    const e2 = (await proxy.projects().catch((e: unknown) => e)) as ApiError;
    expect([e2.status, e2.code, e2.transient, e2.retryAfterS]).toEqual([502, 'http_502', true, 3]);

    const limited = new ApiClient(
      async () => new Response(JSON.stringify({ error: { code: 'quota_exceeded', message: 'too many files (max 2000)' } }), { status: 413 }),
    );
    const e3 = (await limited.createProject({ name: 'x' }).catch((e: unknown) => e)) as ApiError;
    expect([e3.status, e3.code, e3.message, e3.currentVersion]).toEqual([413, 'quota_exceeded', 'too many files (max 2000)', null]);
  });

  it('says when the page answered instead of the API (a server without accounts)', async () => {
    const api = new ApiClient(async () => new Response('<!doctype html>', { status: 200, headers: { 'Content-Type': 'text/html' } }));
    const e = (await api.me().catch((e: unknown) => e)) as ApiError;
    expect(e.code).toBe('invalid_answer');
  });

  it('encodes file paths segment by segment and reads the version header', async () => {
    expect(encodePath('src/app main/ü?.py')).toBe('src/app%20main/%C3%BC%3F.py');
    const server = new FakeServer();
    const api = new ApiClient(server.fetch);
    await api.me();
    const { project } = await api.createProject({ name: 'P', files: [{ path: 'dir one/a b.txt', content: 'hi' }] });
    const saved = await api.writeFile(project.id, 'dir one/a b.txt', new TextEncoder().encode('hello'), 1);
    expect(saved.version).toBe(2);
    expect(server.log.at(-1)!.url).toBe(`/api/v1/projects/${project.id}/files/dir%20one/a%20b.txt?version=1`);
    const read = await api.readFile(project.id, 'dir one/a b.txt');
    expect(read.version).toBe(2);
    expect(new TextDecoder().decode(read.bytes)).toBe('hello');
  });
});

describe('the server\'s languages', () => {
  it('are read through the client, and stay empty when the server cannot be asked', async () => {
    const catalog = catalogRuntimes();
    const { calls, fetch } = recording(() => new Response(JSON.stringify(catalog), { status: 200 }));
    const store = new RuntimesStore();
    await store.load(new ApiClient(fetch));
    expect(calls[0].url).toBe('/api/v1/runtimes');
    expect(store.get().map((l) => l.id)).toEqual(catalog.map((l) => l.id));

    const down = new RuntimesStore();
    await down.load(new ApiClient(() => Promise.reject(new TypeError('Failed to fetch'))));
    expect(down.get()).toEqual([]);
  });
});

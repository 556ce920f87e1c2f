// The fake server of the unit tests (test/fakeserver.ts) against the real
// one: the same exchanges, made through the IDE's own ApiClient, must give
// the same answers (statuses, error codes, versions, names and paths; ids
// and times aside). A fake that drifts from `bytesbox serve` fails here,
// not in the unit tests that trust it.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'vite';
import { suiteFixture, webDir } from './harness.mjs';

/** The TypeScript modules, loaded through Vite (as the unit tests load them). */
async function load() {
  const vite = await createServer({ root: webDir, server: { middlewareMode: true, hmr: false }, appType: 'custom', logLevel: 'silent' });
  try {
    const { FakeServer } = await vite.ssrLoadModule('/test/fakeserver.ts');
    const { ApiClient, ApiError } = await vite.ssrLoadModule('/src/api/client.ts');
    return { FakeServer, ApiClient, ApiError };
  } finally {
    await vite.close();
  }
}

/** A fetch that keeps the session's cookies, as a browser would. */
function browserLikeFetch(base) {
  const jar = new Map();
  const fetchWithCookies = async (input, init = {}) => {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const response = await fetch(new URL(input, base), { ...init, headers: { ...init.headers, ...(cookie ? { Cookie: cookie } : {}) } });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    return response;
  };
  return { fetch: fetchWithCookies, cookies: () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
}

const text = (s) => new TextEncoder().encode(s);

/**
 * The exchanges, each reduced to what the IDE relies on. `api` is signed in;
 * every step's answer (or refusal) is recorded.
 */
async function exchanges(api, ApiError) {
  const record = [];
  const step = async (name, call, reduce = (x) => x) => {
    try {
      record.push([name, 'ok', reduce(await call())]);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      record.push([name, 'refused', { status: e.status, code: e.code, current_version: e.currentVersion ?? null }]);
    }
  };
  const project = (p) => ({ name: p.name, language: p.language, entry_file: p.entry_file, version: p.version });
  const files = (list) => list.map((f) => ({ path: f.path, size_bytes: f.size_bytes, version: f.version })).sort((a, b) => a.path.localeCompare(b.path));

  await step('who am I', () => api.me(), (me) => ({ guest: me.guest, signedIn: !!me.user, csrf: typeof me.csrf }));
  let id = null;
  await step(
    'create a project with files',
    () =>
      api.createProject({
        name: 'Contract',
        language: 'python',
        entry_file: 'main.py',
        files: [
          { path: 'main.py', content: 'print(1)\n' },
          { path: 'lib/util.py', content: 'x = 1\n' },
          { path: 'data.bin', content: btoa('\u0000\u0001\u0002'), encoding: 'base64' },
        ],
      }),
    (r) => {
      id = r.project.id;
      return { project: project(r.project), files: files(r.files) };
    },
  );
  const csrf = api.csrf;
  api.csrf = 'not-the-token';
  await step('a write with the wrong CSRF token', () => api.createProject({ name: 'Forged' }));
  api.csrf = csrf;
  await step('the same name again', () => api.createProject({ name: 'Contract' }));
  await step('list', () => api.projects(), (list) => list.map(project));
  await step('open', () => api.project(id), (r) => ({ project: project(r.project), files: files(r.files) }));
  await step('read a file', () => api.readFile(id, 'lib/util.py'), (r) => ({ text: new TextDecoder().decode(r.bytes), version: r.version }));
  await step('read a binary file', () => api.readFile(id, 'data.bin'), (r) => ({ bytes: [...r.bytes], version: r.version }));
  await step('read a missing file', () => api.readFile(id, 'nope.py'));
  await step('write a file at its version', () => api.writeFile(id, 'main.py', text('print(2)\n'), 1), (f) => ({ path: f.path, size_bytes: f.size_bytes, version: f.version }));
  await step('write a file at a stale version', () => api.writeFile(id, 'main.py', text('print(3)\n'), 1));
  await step('write a new file (version 0)', () => api.writeFile(id, 'new.py', text('n = 0\n'), 0), (f) => ({ path: f.path, version: f.version }));
  await step('write a new file that exists (version 0)', () => api.writeFile(id, 'new.py', text('n = 1\n'), 0));
  await step('change the settings', () => api.updateProject(id, { version: 1, name: 'Contract 2', language: null, entry_file: 'new.py' }), project);
  await step('change the settings at a stale version', () => api.updateProject(id, { version: 1, name: 'Contract 3', language: null, entry_file: null }));
  let copy = null;
  await step(
    'duplicate',
    () => api.duplicateProject(id, 'Copy'),
    (r) => {
      copy = r.project.id;
      return { project: project(r.project), files: files(r.files) };
    },
  );
  await step('delete a file at a stale version', () => api.deleteFile(id, 'new.py', 5));
  await step('delete a file', () => api.deleteFile(id, 'new.py', 1));
  await step('read the deleted file', () => api.readFile(id, 'new.py'));
  await step('delete the project at a stale version', () => api.deleteProject(id, 1));
  await step('delete the project', () => api.deleteProject(id, 2));
  await step('open the deleted project', () => api.project(id));
  await step('delete the copy', () => api.deleteProject(copy, 1));
  await step('list again', () => api.projects(), (list) => list.map(project));
  return record;
}

describe('the fake server follows the real one', () => {
  const fixture = suiteFixture();

  it('gives the same answers to the projects API', async (t) => {
    if (!fixture.ready(t)) return;
    const { FakeServer, ApiClient, ApiError } = await load();

    const fake = new FakeServer();
    const fromFake = await exchanges(new ApiClient(fake.fetch), ApiError);

    const browser = browserLikeFetch(fixture.server.url);
    const api = new ApiClient(browser.fetch, '', browser.cookies);
    await api.signUp(`contract${Date.now() % 100000}`, 'contract-password');
    const fromServer = await exchanges(api, ApiError);

    assert.equal(fromFake.length, fromServer.length);
    for (let i = 0; i < fromServer.length; i++) {
      assert.deepEqual(fromFake[i], fromServer[i], `step "${fromServer[i][0]}": the fake answered differently`);
    }
  });
});

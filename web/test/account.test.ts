import { describe, expect, it } from 'vitest';
import { ApiClient } from '../src/api/client';
import { AccountStore, takeProjectsToOffer } from '../src/store/account';
import { Memory } from './memory';

function answering(status: number, body: unknown, type = 'application/json') {
  return new AccountStore(new ApiClient(async () => new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers: { 'Content-Type': type } })));
}

const guestMe = { user: null, guest: true, csrf: null, plan: { name: 'guest' }, usage: null };
const userMe = { user: { id: 'u', username: 'alice', role: 'user', plan: 'default', disabled: false, created_at_ms: 1 }, guest: false, csrf: 'c', plan: null, usage: null };

describe('AccountStore', () => {
  it('tells a user, a guest, guest mode off and an expired sign-in apart', async () => {
    expect((await answering(200, userMe).load()).status).toBe('user');
    expect((await answering(200, guestMe).load()).status).toBe('guest');
    expect(await answering(401, { error: { code: 'sign_in_required', message: 'sign in' } }).load()).toEqual({ status: 'sign-in', reason: null });
    const expired = await answering(401, { error: { code: 'invalid_session', message: 'invalid session' } }).load();
    expect(expired.status).toBe('sign-in');
    expect(expired.status === 'sign-in' && expired.reason).toMatch(/expired/);
  });

  it('treats a server without accounts as a guest without sign-in, and an outage as an error', async () => {
    expect((await answering(404, { error: { code: 'not_found', message: 'no route' } }).load()).status).toBe('no-accounts');
    expect((await answering(200, '<!doctype html><title>Bytesbox</title>', 'text/html').load()).status).toBe('no-accounts');
    const down = await new AccountStore(
      new ApiClient(async () => {
        throw new TypeError('Failed to fetch');
      }),
    ).load();
    expect(down.status).toBe('error');
    const broken = await answering(503, { error: { code: 'accounts_unavailable', message: 'the database is down' } }).load();
    expect(broken).toEqual({ status: 'error', message: 'the database is down (accounts_unavailable)' });
  });
});

describe('the import offer', () => {
  it('names each guest project once per user, and new ones later', () => {
    const kv = new Memory();
    expect(takeProjectsToOffer(kv, 'alice', ['a', 'b'])).toEqual(['a', 'b']);
    expect(takeProjectsToOffer(kv, 'alice', ['a', 'b'])).toEqual([]);
    expect(takeProjectsToOffer(kv, 'bob', ['a', 'b'])).toEqual(['a', 'b']);
    expect(takeProjectsToOffer(kv, 'alice', ['b', 'c'])).toEqual(['c']);
    // A record that is not ours is read as nothing offered.
    kv.setItem('bytesbox.importOffered.carol', '{"a":1}');
    expect(takeProjectsToOffer(kv, 'carol', ['a'])).toEqual(['a']);
  });
});

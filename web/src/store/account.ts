// Who is using the IDE: a signed-in user, a guest, or nobody yet (guest
// mode off). Read once at start from `GET /api/v1/auth/me`.

import { ApiError, type ApiClient, type Me } from '../api/client';
import { Store } from './store';
import type { KeyValue } from './workspace';

export type AccountState =
  | { status: 'loading' }
  /** The server has no accounts (an older server): the IDE works as for a guest. */
  | { status: 'no-accounts' }
  | { status: 'guest'; me: Me }
  | { status: 'user'; me: Me }
  /** Guest mode is off, or the sign-in session is no longer valid. */
  | { status: 'sign-in'; reason: string | null }
  | { status: 'error'; message: string };

/** Set before the reload that follows sign-in or sign-up: offer to import the browser's projects. */
export const OFFER_IMPORT = 'bytesbox.offerImport';

/** Where the guest projects already offered to each user are remembered (`localStorage`). */
const OFFERED = 'bytesbox.importOffered.';

/**
 * The guest projects of this browser (`localIds`) that were never offered
 * to `userId` for import, and from now on remembered as offered: a user
 * is asked about each project once, not at every sign-in (the user menu
 * still offers the import at any time).
 */
export function takeProjectsToOffer(kv: KeyValue, userId: string, localIds: string[]): string[] {
  let offered: string[] = [];
  try {
    const stored: unknown = JSON.parse(kv.getItem(OFFERED + userId) ?? '[]');
    if (Array.isArray(stored)) offered = stored.filter((id): id is string => typeof id === 'string');
  } catch {
    /* unreadable: as if nothing was offered */
  }
  const fresh = localIds.filter((id) => !offered.includes(id));
  // Only the ids still in this browser are kept, so the record never grows past them.
  if (fresh.length) kv.setItem(OFFERED + userId, JSON.stringify(localIds));
  return fresh;
}

export class AccountStore extends Store<AccountState> {
  constructor(readonly api: ApiClient) {
    super({ status: 'loading' });
  }

  async load(): Promise<AccountState> {
    this.set(await this.fetchState());
    return this.get();
  }

  private async fetchState(): Promise<AccountState> {
    try {
      const me = await this.api.me();
      if (me.guest || !me.user) return { status: 'guest', me };
      return { status: 'user', me };
    } catch (e) {
      if (!(e instanceof ApiError)) return { status: 'error', message: String(e) };
      if (e.code === 'sign_in_required') return { status: 'sign-in', reason: null };
      if (e.code === 'invalid_session') return { status: 'sign-in', reason: 'Your sign-in has expired. Please sign in again.' };
      if (e.code === 'account_disabled') return { status: 'sign-in', reason: e.message };
      // No accounts API here (404, or the web page instead of JSON).
      if (e.status === 404 || e.code === 'invalid_answer') return { status: 'no-accounts' };
      return { status: 'error', message: `${e.message} (${e.code})` };
    }
  }

  /** Refreshes `Me` (usage after saving, say) without changing who is signed in. */
  async refresh(): Promise<void> {
    const state = this.get();
    if (state.status !== 'user') return;
    try {
      const me = await this.api.me();
      if (me.user) this.set({ status: 'user', me });
    } catch {
      /* kept as it was */
    }
  }
}

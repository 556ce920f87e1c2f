// The server's languages (`GET /api/v1/runtimes`), asked once at start.
// Until they arrive, or if the server cannot be asked, the list is empty:
// the pickers show only "Auto" and the server infers the language from the
// entry's extension.

import type { ApiClient, Runtime } from '../api/client';
import { Store } from './store';

export class RuntimesStore extends Store<Runtime[]> {
  constructor() {
    super([]);
  }

  async load(api: ApiClient): Promise<void> {
    try {
      this.set(await api.runtimes());
    } catch {
      this.set([]);
    }
  }
}

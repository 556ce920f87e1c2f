// Projects in the browser's IndexedDB: one record per project, keyed by id.
// Until accounts exist this is where a user's work lives.

import type { Project } from './project';

const DB_NAME = 'bytesbox';
const STORE = 'projects';

export interface ProjectSummary {
  id: string;
  name: string;
  updatedAt: number;
  /** How many files, when known (the server's list does not say). */
  files: number | null;
}

export function summaryOf(p: Project): ProjectSummary {
  return { id: p.id, name: p.name, updatedAt: p.updatedAt, files: Object.keys(p.files).length };
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export class ProjectDb {
  private db: Promise<IDBDatabase>;

  constructor(factory: IDBFactory = indexedDB, name = DB_NAME) {
    this.db = new Promise((resolve, reject) => {
      const open = factory.open(name, 1);
      open.onupgradeneeded = () => {
        open.result.createObjectStore(STORE, { keyPath: 'id' });
      };
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
  }

  private async store(mode: IDBTransactionMode): Promise<IDBObjectStore> {
    return (await this.db).transaction(STORE, mode).objectStore(STORE);
  }

  async put(project: Project): Promise<void> {
    const store = await this.store('readwrite');
    await request(store.put(project));
    await new Promise<void>((resolve, reject) => {
      store.transaction.oncomplete = () => resolve();
      store.transaction.onerror = () => reject(store.transaction.error);
      store.transaction.onabort = () => reject(store.transaction.error);
    });
  }

  async get(id: string): Promise<Project | undefined> {
    return request((await this.store('readonly')).get(id)) as Promise<Project | undefined>;
  }

  async delete(id: string): Promise<void> {
    await request((await this.store('readwrite')).delete(id));
  }

  /** Every project, most recently changed first. */
  async list(): Promise<ProjectSummary[]> {
    const all = (await request((await this.store('readonly')).getAll())) as Project[];
    return all.map(summaryOf).sort((a, b) => b.updatedAt - a.updatedAt);
  }
}

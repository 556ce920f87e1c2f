// The session's SQL databases, as the schema panel and its Reset button
// see them: the tables and columns of each dialect's database (read by a
// run of the schema query with structured results, which no console shows,
// in the server's scratch folder beside the project) and the protocol's
// `reset_database`.

import type { BytesboxClient } from '../protocol/client';
import type { RunMessage } from '../protocol/types';
import { Store } from './store';
import { schemaOf, schemaQuery, type SchemaTable, type SqlResult } from '../sql/results';

export interface SqlSessionState {
  /** Tables by dialect (catalog id); absent until read. */
  schema: Record<string, SchemaTable[]>;
  /** The dialect whose schema is being read. */
  loading: string | null;
  resetting: boolean;
  /** Why the last read or reset failed. */
  error: string | null;
}

let counter = 0;

export class SqlSessionStore extends Store<SqlSessionState> {
  constructor(private client: BytesboxClient) {
    super({ schema: {}, loading: null, resetting: false, error: null });
  }

  /** Reads the tables and columns of `language`'s database in the session. */
  refresh(language: string): Promise<void> {
    const id = `schema-${++counter}`;
    const results: SqlResult[] = [];
    this.set({ ...this.get(), loading: language, error: null });
    return new Promise((resolve) => {
      const stop = this.client.onRun(id, (message: RunMessage) => {
        if (message.type === 'sql_result') results.push(message.result);
        if (message.type !== 'done' && message.type !== 'error') return;
        stop();
        const failed = message.type === 'error' ? message.message : results.find((r) => r.error)?.error?.message;
        const state = this.get();
        this.set({
          ...state,
          schema: failed ? state.schema : { ...state.schema, [language]: schemaOf(results) },
          loading: state.loading === language ? null : state.loading,
          error: failed ? `The schema could not be read: ${failed}` : null,
        });
        resolve();
      });
      this.client.send({
        type: 'run',
        id,
        language,
        files: [{ path: 'schema.sql', content: schemaQuery(language) }],
        entry: 'schema.sql',
        sql_results: true,
        // Beside the project's files, not in their place: the box keeps
        // the project's main.sql for a terminal and git.
        scratch: true,
        tty: null,
      });
    });
  }

  /** Drops every database of the session (the box goes, with its servers). */
  reset(): Promise<boolean> {
    const id = `reset-${++counter}`;
    this.set({ ...this.get(), resetting: true, error: null });
    return new Promise((resolve) => {
      const stop = this.client.onRun(id, (message: RunMessage) => {
        if (message.type !== 'database_reset' && message.type !== 'error') return;
        stop();
        const ok = message.type === 'database_reset';
        const error =
          message.type === 'error'
            ? message.code === 'session_busy'
              ? 'A run is going: stop it, then reset the database.'
              : message.message
            : null;
        this.set({ ...this.get(), schema: ok ? {} : this.get().schema, resetting: false, error });
        resolve(ok);
      });
      this.client.send({ type: 'reset_database', id });
    });
  }
}

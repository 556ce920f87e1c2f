// Reads the schema again when a structured SQL run ends: what it created or
// dropped shows in the panel.

import { useEffect } from 'react';
import type { ConsoleState } from '../../store/consoles';
import type { SqlSessionStore } from '../../store/sqlSession';
import { WRITE_DELAY_MS } from '../../store/boxFiles';

/**
 * The schema query's run waits until the editor's saved files have gone
 * to the box: Run saves, and the save's `files_write` leaves
 * `WRITE_DELAY_MS` later, which can be after a short run has ended. Sent
 * after it, the query's run starts only once those files are written (the
 * server takes a connection's frames in order); sent before, the write
 * could replace the query's `main.sql` with the project's while it starts.
 */
const SCHEMA_AFTER_WRITES_MS = WRITE_DELAY_MS + 50;

export function useSchemaRefresh(store: SqlSessionStore, console: ConsoleState) {
  const ended = console.phase === 'finished' || console.phase === 'failed';
  const { id, language } = console;
  useEffect(() => {
    if (!ended || !language) return;
    const timer = setTimeout(() => void store.refresh(language), SCHEMA_AFTER_WRITES_MS);
    return () => clearTimeout(timer);
  }, [store, id, language, ended]);
}

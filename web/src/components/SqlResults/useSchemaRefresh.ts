// Reads the schema again when a structured SQL run ends: what it created or
// dropped shows in the panel. The query runs beside the project (a
// `scratch` run, src/store/sqlSession.ts), so no write of the project's
// files can take its place, and it can go at once.

import { useEffect } from 'react';
import type { ConsoleState } from '../../store/consoles';
import type { SqlSessionStore } from '../../store/sqlSession';

export function useSchemaRefresh(store: SqlSessionStore, console: ConsoleState) {
  const ended = console.phase === 'finished' || console.phase === 'failed';
  const { id, language } = console;
  useEffect(() => {
    if (ended && language) void store.refresh(language);
  }, [store, id, language, ended]);
}

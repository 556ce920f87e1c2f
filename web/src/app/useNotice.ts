// The error banner's message: shown for 5 s, or until dismissed.

import { useCallback, useEffect, useState } from 'react';

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function useNotice() {
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    if (!notice) return;
    const t = setTimeout(() => setNotice(null), 5000);
    return () => clearTimeout(t);
  }, [notice]);

  /** Runs a workspace operation, showing a failure as a notice. */
  const attempt = useCallback((what: Promise<unknown>) => {
    what.catch((e: unknown) => setNotice(errorText(e)));
  }, []);

  return { notice, setNotice, attempt };
}

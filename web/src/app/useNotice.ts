// The error banner's message: shown for 5 s, or until dismissed; one with
// an action (Undo after a delete) for 10 s.

import { useCallback, useEffect, useState } from 'react';

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A button beside a notice's text. */
export interface NoticeAction {
  label: string;
  run: () => void;
}

export function useNotice() {
  const [shown, setShown] = useState<{ text: string; action: NoticeAction | null } | null>(null);
  const setNotice = useCallback((text: string | null, action: NoticeAction | null = null) => {
    setShown(text === null ? null : { text, action });
  }, []);

  useEffect(() => {
    if (!shown) return;
    const t = setTimeout(() => setShown(null), shown.action ? 10000 : 5000);
    return () => clearTimeout(t);
  }, [shown]);

  /** Runs a workspace operation, showing a failure as a notice. */
  const attempt = useCallback((what: Promise<unknown>) => {
    what.catch((e: unknown) => setNotice(errorText(e)));
  }, []);

  return { notice: shown?.text ?? null, noticeAction: shown?.action ?? null, setNotice, attempt };
}

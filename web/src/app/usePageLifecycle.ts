// What the page does around the IDE: the theme on <html>, and pending
// writes sent before the page goes away or when the browser is back online.

import { useEffect } from 'react';
import type { Workspace } from '../store/workspace';

export function usePageLifecycle(workspace: Workspace, theme: 'light' | 'dark') {
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);

  useEffect(() => {
    const flush = () => void workspace.flush();
    window.addEventListener('pagehide', flush);
    document.addEventListener('visibilitychange', flush);
    // Back online: saved projects retry at once rather than at the next backoff.
    window.addEventListener('online', flush);
    return () => {
      window.removeEventListener('online', flush);
      window.removeEventListener('pagehide', flush);
      document.removeEventListener('visibilitychange', flush);
    };
  }, [workspace]);
}

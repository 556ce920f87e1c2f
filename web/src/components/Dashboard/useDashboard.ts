// The Dashboard's state: the series of the chosen range and node, the
// latest errors and the users' analytics, fetched now and every 30 s
// (nodes write their minutes once a minute).

import { useCallback, useEffect, useState } from 'react';
import type { ApiClient, MonitorError, MonitorSeries, UserAnalytics } from '../../api/client';
import { messageOf } from '../account/format';

export type Range = 'hour' | 'day';

export interface DashboardState {
  series: MonitorSeries | null;
  errors: MonitorError[] | null;
  users: UserAnalytics | null;
  error: string | null;
  reload: () => void;
}

const REFRESH_MS = 30_000;

export function useDashboard(api: ApiClient, range: Range, node: string | null): DashboardState {
  const [series, setSeries] = useState<MonitorSeries | null>(null);
  const [errors, setErrors] = useState<MonitorError[] | null>(null);
  const [users, setUsers] = useState<UserAnalytics | null>(null);
  const [error, setError] = useState<string | null>(null);

  const reload = useCallback(() => {
    const fail = (e: unknown) => setError(messageOf(e));
    const ok = <T,>(set: (value: T) => void) => (value: T) => {
      set(value);
      setError(null);
    };
    api.adminMonitoring(range, node).then(ok(setSeries), fail);
    api.adminErrors(100, node).then(ok(setErrors), fail);
    api.adminUserAnalytics(30).then(ok(setUsers), fail);
  }, [api, range, node]);

  useEffect(() => {
    reload();
    const timer = setInterval(reload, REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload]);

  return { series, errors, users, error, reload };
}

import type { AuditRow } from '@spendguard/core';
import { z } from 'zod';
import { parseQuery } from './admin-requests.ts';
import type { Route } from './router.ts';

const WINDOWS = {
  hour: { spanMs: 60 * 60_000, stepMs: 60_000 },
  day: { spanMs: 24 * 60 * 60_000, stepMs: 15 * 60_000 },
} as const;
const PAGE = 1000;
/** The most audit rows one series reads (100 pages): a bound on the work of one request. */
const MAX_ROWS = 100_000;

const seriesFilters = z.strictObject({
  window: z.enum(['hour', 'day']).optional(),
  root: z.string().min(1).max(200).optional(),
});

/**
 * `GET /v1/spend/series?window=hour|day&root=`: what executed calls cost over the last hour (one-minute
 * steps) or day (15-minute steps), per root key, cumulative from the window's start. Read from the
 * audit log page by page: `{ window, from, stepMs, times, series: [{ rootKeyId, usd }] , truncated }`.
 */
export const SPEND_SERIES_ROUTE: Route = {
  method: 'GET',
  path: '/v1/spend/series',
  async handle({ guard, url, now }) {
    const q = parseQuery(url, seriesFilters);
    const window = q.window ?? 'hour';
    const { spanMs, stepMs } = WINDOWS[window];
    const end = Math.ceil(now() / stepMs) * stepMs;
    const from = end - spanMs;
    const steps = spanMs / stepMs;
    const perRoot = new Map<string, number[]>();
    let after = 0;
    let read = 0;
    let truncated = false;
    for (;;) {
      const page: AuditRow[] = await guard.audit.list({
        fromTime: from,
        decision: ['executed'],
        ...(q.root !== undefined && { rootKeyId: q.root }),
        afterSeq: after,
        limit: PAGE,
      });
      for (const row of page) {
        const usd = row.actualCostUsd ?? row.estimatedCostUsd ?? 0;
        const root = row.rootKeyId ?? row.keyId ?? 'unknown';
        const step = Math.min(steps - 1, Math.max(0, Math.floor((row.time - from) / stepMs)));
        let values = perRoot.get(root);
        if (!values) {
          values = new Array<number>(steps).fill(0);
          perRoot.set(root, values);
        }
        values[step] = (values[step] as number) + usd;
      }
      read += page.length;
      if (page.length < PAGE) break;
      if (read >= MAX_ROWS) {
        truncated = true;
        break;
      }
      after = (page.at(-1) as AuditRow).seq;
    }
    const times = Array.from({ length: steps }, (_, i) => (from + (i + 1) * stepMs) / 1000);
    const series = [...perRoot].map(([rootKeyId, values]) => {
      let total = 0;
      const usd = values.map((v) => {
        total += v;
        return Math.round(total * 1e6) / 1e6;
      });
      return { rootKeyId, usd };
    });
    return Response.json({ window, from, stepMs, times, series, truncated });
  },
};

import type { AuditRow } from '@spendguard/core';
import { inTrace } from '@spendguard/core/store-kit';
import { z } from 'zod';
import { AdminError } from './admin-error.ts';
import { parseQuery } from './admin-requests.ts';
import type { AdminEvent, AuditFeed, FeedItem } from './audit-feed.ts';
import { auditQuery, auditQueryFilters } from './audit-routes.ts';
import type { Route } from './router.ts';

/** How many matching rows a new listener gets first, by default: the newest ones. */
const DEFAULT_BACKLOG = 50;
/** A comment line this often keeps proxies and browsers from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

const streamFilters = auditQueryFilters
  .pick({
    key: true,
    root: true,
    run: true,
    decision: true,
    code: true,
    vendor: true,
    trace: true,
    after: true,
  })
  .extend({ backlog: z.coerce.number().int().min(0).max(1000).optional() });
type StreamFilters = z.infer<typeof streamFilters>;

function rowMatches(f: StreamFilters, row: AuditRow): boolean {
  return (
    (f.key === undefined || row.keyId === f.key) &&
    (f.root === undefined || row.rootKeyId === f.root) &&
    (f.run === undefined || row.runId === f.run) &&
    (f.vendor === undefined || row.vendor === f.vendor) &&
    (f.code === undefined || row.code === f.code) &&
    (f.trace === undefined || inTrace(row.traceId, f.trace)) &&
    (f.decision === undefined || f.decision.includes(row.decision))
  );
}

/** Admin events show unless a filter they cannot match (run, vendor, decision, code, trace) is set. */
function eventMatches(f: StreamFilters, event: AdminEvent): boolean {
  return (
    (f.key === undefined || f.key === event.keyId) &&
    f.run === undefined &&
    f.vendor === undefined &&
    f.decision === undefined &&
    f.code === undefined &&
    f.trace === undefined
  );
}

/**
 * `GET /v1/audit/stream`: server-sent events. `event: row` (id: its seq) for each audit row as it is
 * written, the newest `backlog` matching ones first (or, given `after` / `Last-Event-ID`, those
 * after it); `event: admin` for what the admin listener did (a key revoked). Same filters as
 * `/v1/audit`: key, root, run, vendor, decision, code, trace.
 */
export function auditStreamRoute(feed: AuditFeed): Route {
  return {
    method: 'GET',
    path: '/v1/audit/stream',
    async handle({ guard, url, request }) {
      const f = parseQuery(url, streamFilters);
      const lastEventId = request.headers.get('last-event-id');
      let after = f.after;
      if (lastEventId !== null && /^\d{1,15}$/.test(lastEventId)) after = Number(lastEventId);
      else if (lastEventId !== null) throw new AdminError(400, 'request_invalid', 'Last-Event-ID: not a seq');
      const query = auditQuery(f);
      const encoder = new TextEncoder();
      let unsubscribe: (() => void) | undefined;
      let heartbeat: NodeJS.Timeout | undefined;
      const stop = () => {
        unsubscribe?.();
        unsubscribe = undefined;
        if (heartbeat) clearInterval(heartbeat);
      };
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          let ready = false;
          const early: FeedItem[] = [];
          const send = (item: FeedItem) => {
            try {
              if (item.kind === 'row') {
                if (!rowMatches(f, item.row)) return;
                controller.enqueue(
                  encoder.encode(`id: ${item.row.seq}\nevent: row\ndata: ${JSON.stringify(item.row)}\n\n`),
                );
              } else if (eventMatches(f, item.event)) {
                controller.enqueue(encoder.encode(`event: admin\ndata: ${JSON.stringify(item.event)}\n\n`));
              }
            } catch {
              stop(); // the reader went away
            }
          };
          unsubscribe = await feed.subscribe((item) => (ready ? send(item) : early.push(item)));
          const head = feed.lastSeq;
          const backlog =
            after !== undefined
              ? await guard.audit.list({ ...query, afterSeq: after, beforeSeq: head + 1, limit: 1000 })
              : await guard.audit.list({
                  ...query,
                  beforeSeq: head + 1,
                  limit: f.backlog ?? DEFAULT_BACKLOG,
                });
          controller.enqueue(encoder.encode('retry: 1000\n: spendguard audit stream\n\n'));
          for (const row of backlog) send({ kind: 'row', row });
          for (const item of early) if (item.kind === 'event' || item.row.seq > head) send(item);
          ready = true;
          heartbeat = setInterval(() => {
            try {
              controller.enqueue(encoder.encode(': keep-alive\n\n'));
            } catch {
              stop();
            }
          }, HEARTBEAT_MS);
        },
        cancel: stop,
      });
      return new Response(body, {
        headers: {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          'x-accel-buffering': 'no',
        },
      });
    },
  };
}

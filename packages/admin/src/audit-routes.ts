import type { AuditQuery, AuditRow, Guard } from '@spendguard/core';
import { z } from 'zod';
import { AdminError } from './admin-error.ts';
import { auditFilters, MAX_PAGE, parseQuery } from './admin-requests.ts';
import type { Route } from './router.ts';

/** Rows read per store call while exporting. */
const EXPORT_PAGE = 1000;
/** The longest trace id `trace` takes (a framework's id and the parts an adapter adds). */
export const MAX_TRACE_ID = 1000;

/**
 * `trace`: rows of one trace, the id itself or it followed by `;` and more (AuditQuery.traceId),
 * compared as plain text: the store never reads it as a pattern.
 */
export const auditQueryFilters = auditFilters.extend({
  trace: z.string().min(1).max(MAX_TRACE_ID).optional(),
});
type AuditQueryFilters = z.infer<typeof auditQueryFilters>;

/** The store query for the admin API's audit filters (every one optional). */
export function auditQuery(f: Partial<AuditQueryFilters>): AuditQuery {
  return {
    ...(f.key !== undefined && { keyId: f.key }),
    ...(f.root !== undefined && { rootKeyId: f.root }),
    ...(f.run !== undefined && { runId: f.run }),
    ...(f.decision !== undefined && { decision: f.decision }),
    ...(f.code !== undefined && { code: f.code }),
    ...(f.vendor !== undefined && { vendor: f.vendor }),
    ...(f.trace !== undefined && { traceId: f.trace }),
    ...(f.from !== undefined && { fromTime: f.from }),
    ...(f.to !== undefined && { toTime: f.to }),
  };
}

const NDJSON = { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store' };

/** Matching rows as JSON lines, page by page as the reader pulls: constant memory however long the log. */
function exportStream(guard: Guard, query: AuditQuery, afterSeq: number, limit: number): ReadableStream {
  const encoder = new TextEncoder();
  let after = afterSeq;
  let left = limit;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const page: AuditRow[] =
          left <= 0
            ? []
            : await guard.audit.list({ ...query, afterSeq: after, limit: Math.min(EXPORT_PAGE, left) });
        if (page.length === 0) {
          controller.close();
          return;
        }
        after = (page.at(-1) as AuditRow).seq;
        left -= page.length;
        controller.enqueue(encoder.encode(page.map((row) => `${JSON.stringify(row)}\n`).join('')));
      },
    },
    { highWaterMark: 0 },
  );
}

const verifyFilters = z.strictObject({ stream: z.enum(['true', 'false']).optional() });

export const AUDIT_ROUTES: Route[] = [
  {
    method: 'GET',
    path: '/v1/audit',
    async handle({ guard, url }) {
      const f = parseQuery(url, auditQueryFilters);
      if (f.after !== undefined && f.before !== undefined) {
        throw new AdminError(400, 'request_invalid', 'give after or before, not both');
      }
      const limit = f.limit ?? 100;
      const rows = await guard.audit.list({
        ...auditQuery(f),
        ...(f.after !== undefined && { afterSeq: f.after }),
        ...(f.before !== undefined && { beforeSeq: f.before }),
        limit,
      });
      return Response.json({ rows });
    },
  },
  {
    method: 'GET',
    path: '/v1/audit/export',
    // `limit` caps the export (default: everything); `after` resumes one that broke off.
    async handle({ guard, url }) {
      const f = parseQuery(
        url,
        auditQueryFilters.extend({ limit: z.coerce.number().int().min(1).optional() }),
      );
      if (f.before !== undefined)
        throw new AdminError(400, 'request_invalid', 'export reads forwards: use after');
      const head = await guard.store.auditHead();
      const stream = exportStream(guard, auditQuery(f), f.after ?? 0, f.limit ?? Number.MAX_SAFE_INTEGER);
      // The head's seq lets a client show progress through the log.
      return new Response(stream, {
        headers: { ...NDJSON, 'spendguard-audit-head': String(head?.seq ?? 0) },
      });
    },
  },
  {
    method: 'GET',
    path: '/v1/audit/verify',
    // With stream=true, progress lines `{ "checked": n, "of": head }` come before the verdict line.
    async handle({ guard, url }) {
      const { stream } = parseQuery(url, verifyFilters);
      if (stream !== 'true') return Response.json(await guard.audit.verify());
      const of = (await guard.store.auditHead())?.seq ?? 0;
      const encoder = new TextEncoder();
      const line = (value: unknown) => encoder.encode(`${JSON.stringify(value)}\n`);
      return new Response(
        new ReadableStream<Uint8Array>({
          async start(controller) {
            try {
              const verdict = await guard.audit.verify({
                pageSize: MAX_PAGE,
                onProgress: (checked) => controller.enqueue(line({ checked, of })),
              });
              controller.enqueue(line({ verdict }));
            } catch {
              controller.enqueue(
                line({ error: { code: 'store_unavailable', message: 'verify failed to read the log' } }),
              );
            }
            controller.close();
          },
        }),
        { headers: NDJSON },
      );
    },
  },
];

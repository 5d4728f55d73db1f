import { listFilters, parseBody, parseQuery, reconcileBody } from './admin-requests.ts';
import type { Route } from './router.ts';

export const PENDING_ROUTES: Route[] = [
  {
    method: 'GET',
    path: '/v1/pending',
    async handle({ guard, url }) {
      const q = parseQuery(url, listFilters);
      return Response.json({ pending: await guard.pending({ limit: q.limit ?? 100 }) });
    },
  },
  {
    method: 'POST',
    path: '/v1/pending/:id/reconcile',
    async handle({ guard, params, request }) {
      const { by, ...settlement } = await parseBody(request, reconcileBody);
      const checkpoint = await guard.reconcile(params.id as string, { ...settlement, by: by ?? 'admin api' });
      return Response.json({
        checkpoint: { id: checkpoint.id, state: checkpoint.state, keyId: checkpoint.keyId },
      });
    },
  },
];

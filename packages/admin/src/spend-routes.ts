import { z } from 'zod';
import { MAX_PAGE, parseQuery } from './admin-requests.ts';
import type { Route } from './router.ts';

const spendFilters = z.strictObject({
  root: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).optional(),
});

export const SPEND_ROUTES: Route[] = [
  {
    method: 'GET',
    path: '/v1/spend',
    // Active keys (a root's, or every root key's), each with its windows and caps: what is burning now.
    async handle({ guard, url, now }) {
      const q = parseQuery(url, spendFilters);
      const keys = await guard.store.listKeys({
        ...(q.root !== undefined ? { rootId: q.root } : { parentId: null }),
        state: 'active',
        now: now(),
        limit: q.limit ?? 100,
      });
      const spend = await Promise.all(
        keys.map(async (k) => ({
          keyId: k.id,
          name: k.name,
          rootId: k.rootId,
          parentId: k.parentId,
          runId: k.runId,
          ...(await guard.spend(k.id)),
        })),
      );
      return Response.json({ spend });
    },
  },
];

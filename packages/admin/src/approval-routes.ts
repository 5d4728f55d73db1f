import { AdminError } from './admin-error.ts';
import { approvalFilters, parseBody, parseQuery, verdictBody } from './admin-requests.ts';
import type { Route, RouteContext } from './router.ts';

/** Who decided, for the audit row: the name the caller gives, else the admin API itself. */
const DEFAULT_APPROVER = 'admin api';

async function decide(context: RouteContext, verdict: 'approve' | 'deny'): Promise<Response> {
  const { guard, params, request } = context;
  const body = await parseBody(request, verdictBody);
  const id = params.id as string;
  const before = await guard.approvals.get(id);
  if (!before) throw new AdminError(404, 'approval_unknown', `no approval ${id}`);
  if (before.state !== 'pending') {
    throw new AdminError(409, 'conflict', `approval ${id} was already ${before.state}`);
  }
  const options = {
    by: body.by ?? DEFAULT_APPROVER,
    ...(body.reason !== undefined && { reason: body.reason }),
  };
  const approval = await (verdict === 'approve'
    ? guard.approvals.approve(id, options)
    : guard.approvals.deny(id, options));
  return Response.json({ approval });
}

export const APPROVAL_ROUTES: Route[] = [
  {
    method: 'GET',
    path: '/v1/approvals',
    async handle({ guard, url }) {
      const q = parseQuery(url, approvalFilters);
      const approvals = await guard.approvals.list({ state: q.state ?? 'pending', limit: q.limit ?? 100 });
      return Response.json({ approvals });
    },
  },
  { method: 'POST', path: '/v1/approvals/:id/approve', handle: (c) => decide(c, 'approve') },
  { method: 'POST', path: '/v1/approvals/:id/deny', handle: (c) => decide(c, 'deny') },
];

import type { KeyRecord, KeyState } from '@spendguard/core';
import { AdminError } from './admin-error.ts';
import { deriveBody, issueBody, keyFilters, parseBody, parseQuery } from './admin-requests.ts';
import type { Route, RouteContext } from './router.ts';

/** A key record as the admin API shows it: with its state now. Tokens are never stored, so never shown. */
export function keyView(key: KeyRecord, now: number): KeyRecord & { state: KeyState } {
  const state: KeyState =
    key.revokedAt !== null
      ? 'revoked'
      : key.expiresAt !== null && key.expiresAt <= now
        ? 'expired'
        : 'active';
  return { ...key, state };
}

async function knownKey({ guard, params }: RouteContext): Promise<KeyRecord> {
  const key = await guard.keys.get(params.id as string);
  if (!key) throw new AdminError(404, 'key_unknown', `no key ${params.id}`);
  return key;
}

export const KEY_ROUTES: Route[] = [
  {
    method: 'GET',
    path: '/v1/keys',
    async handle({ guard, url, now }) {
      const q = parseQuery(url, keyFilters);
      const at = now();
      const keys = await guard.store.listKeys({
        ...(q.root !== undefined && { rootId: q.root }),
        ...(q.parent !== undefined && { parentId: q.parent === 'none' ? null : q.parent }),
        ...(q.run !== undefined && { runId: q.run }),
        ...(q.state !== undefined && { state: q.state, now: at }),
        ...(q.after !== undefined && { afterId: q.after }),
        limit: q.limit ?? 100,
      });
      return Response.json({ keys: keys.map((k) => keyView(k, at)) });
    },
  },
  {
    method: 'POST',
    path: '/v1/keys',
    async handle({ guard, request, now }) {
      const body = await parseBody(request, issueBody);
      const issued = await guard.keys.issueRoot(body);
      const key = (await guard.keys.get(issued.id)) as KeyRecord;
      // The one response that carries a token: it is shown once, and only its hash is stored.
      return Response.json({ key: keyView(key, now()), token: issued.token }, { status: 201 });
    },
  },
  {
    method: 'POST',
    path: '/v1/keys/derive',
    async handle({ guard, request, now }) {
      const { parentToken, ...options } = await parseBody(request, deriveBody);
      const derived = await guard.keys.derive(parentToken, options);
      const key = (await guard.keys.get(derived.id)) as KeyRecord;
      return Response.json(
        { key: keyView(key, now()), token: derived.token, reused: derived.reused },
        { status: 201 },
      );
    },
  },
  {
    method: 'GET',
    path: '/v1/keys/:id',
    async handle(context) {
      return Response.json({ key: keyView(await knownKey(context), context.now()) });
    },
  },
  {
    method: 'POST',
    path: '/v1/keys/:id/revoke',
    async handle(context) {
      const key = await knownKey(context);
      const revoked = await context.guard.keys.revoke(key.id);
      const after = (await context.guard.keys.get(key.id)) as KeyRecord;
      return Response.json({ key: keyView(after, context.now()), revoked });
    },
  },
  {
    method: 'GET',
    path: '/v1/keys/:id/spend',
    async handle(context) {
      const key = await knownKey(context);
      return Response.json({ spend: { keyId: key.id, ...(await context.guard.spend(key.id)) } });
    },
  },
];

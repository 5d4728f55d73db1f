import { DatabaseSync } from 'node:sqlite';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAdminApi } from './admin-api.ts';
import { ADMIN_TOKEN, AdminWorld, TOKEN_ENV } from './test-world.ts';

let world: AdminWorld;
beforeEach(() => {
  world = new AdminWorld();
});
afterEach(() => world.close());

const ERROR_CODES = [
  'unauthorized',
  'not_found',
  'method_not_allowed',
  'request_invalid',
  'key_unknown',
  'approval_unknown',
  'checkpoint_unknown',
  'conflict',
  'store_unavailable',
  'internal_error',
];

describe('the admin token', () => {
  it('refuses a missing, wrong, or almost-right token with a bare 401, and counts each attempt', async () => {
    const attempts = [
      world.call('GET', '/v1/keys', undefined, ''),
      world.call('GET', '/v1/keys', undefined, 'Bearer nope'),
      world.call('GET', '/v1/keys', undefined, `Bearer ${ADMIN_TOKEN.slice(0, -1)}`),
      world.call('GET', '/v1/keys', undefined, `Basic ${ADMIN_TOKEN}`),
      world.call('POST', '/v1/keys', { policy: 'billing' }, `Bearer ${ADMIN_TOKEN}x`),
      world.call('GET', '/v1/no-such-route', undefined, ''),
    ];
    for (const response of await Promise.all(attempts)) {
      expect(response.status).toBe(401);
      expect(response.json).toEqual({ error: { code: 'unauthorized', message: 'unauthorized' } });
    }
    expect(await world.guard.keys.list()).toEqual([]); // the POST did nothing
    const metrics = await world.call('GET', '/metrics', undefined, '');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('spendguard_admin_unauthorized_total 6');
    expect((await world.call('GET', '/v1/keys')).status).toBe(200);
  });

  it('is read by reference; a missing or short one stops the API from starting, naming where, never the value', () => {
    delete process.env.SG_ADMIN_MISSING;
    expect(() => createAdminApi({ guard: world.guard, token: { env: 'SG_ADMIN_MISSING' } })).toThrow(
      /environment variable SG_ADMIN_MISSING is not set/,
    );
    process.env.SG_ADMIN_SHORT = 'short-secret-value';
    expect(() => createAdminApi({ guard: world.guard, token: { env: 'SG_ADMIN_SHORT' } })).toThrow(
      /SG_ADMIN_SHORT is shorter than 24 characters/,
    );
    try {
      createAdminApi({ guard: world.guard, token: { env: 'SG_ADMIN_SHORT' } });
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('short-secret-value');
    }
    delete process.env.SG_ADMIN_SHORT;
    expect(() => createAdminApi({ guard: world.guard, token: { file: '/nonexistent/token' } })).toThrow(
      /cannot read file \/nonexistent\/token/,
    );
  });
});

describe('keys, spend and revocation', () => {
  it('issues a root key (its token shown once), derives a run key, reports spend against caps, and revokes', async () => {
    const issued = await world.call('POST', '/v1/keys', { policy: 'billing', name: 'billing-agent' });
    expect(issued.status).toBe(201);
    const rootToken = issued.json.token as string;
    expect(rootToken).toMatch(/^sk_sg_/);
    expect(issued.json.key).toMatchObject({ name: 'billing-agent', parentId: null, state: 'active' });
    const derived = await world.call('POST', '/v1/keys/derive', { parentToken: rootToken, runId: 'run-7' });
    expect(derived.status).toBe(201);
    const run = derived.json as { key: { id: string }; token: string };
    expect((await world.pay(run.token, 4200)).decision).toBe('executed');

    const spend = await world.call('GET', `/v1/keys/${run.key.id}/spend`);
    expect(spend.json.spend).toMatchObject({
      keyId: run.key.id,
      lifetimeUsd: 42,
      dayUsd: 42,
      caps: { lifetimeUsd: 100, dayUsd: 500, hourUsd: null },
      alerts: [80],
    });
    const all = await world.call('GET', '/v1/spend');
    expect(all.json.spend).toEqual([
      expect.objectContaining({ keyId: issued.json.key.id, name: 'billing-agent', lifetimeUsd: 42 }),
    ]);
    const runs = await world.call('GET', `/v1/spend?root=${issued.json.key.id}`);
    expect(runs.json.spend.map((s: { keyId: string }) => s.keyId).sort()).toEqual(
      [issued.json.key.id, run.key.id].sort(),
    );

    const revoked = await world.call('POST', `/v1/keys/${run.key.id}/revoke`);
    expect(revoked.json).toMatchObject({ revoked: true, key: { id: run.key.id, state: 'revoked' } });
    const denied = await world.pay(run.token, 100, 'cus_2');
    expect(denied).toMatchObject({ decision: 'denied', code: 'key_revoked' });
    // Revoking again changes nothing: the first revocation time stands.
    const twice = await world.call('POST', `/v1/keys/${run.key.id}/revoke`);
    expect(twice.json.key.revokedAt).toBe(revoked.json.key.revokedAt);
    const active = await world.call('GET', '/v1/keys?state=active');
    expect(active.json.keys.map((k: { id: string }) => k.id)).toEqual([issued.json.key.id]);

    // No listing, view or report repeats a token.
    const everything = await Promise.all(
      ['/v1/keys', `/v1/keys/${run.key.id}`, '/v1/spend', '/v1/audit?limit=1000', '/v1/audit/export'].map(
        (p) => world.call('GET', p),
      ),
    );
    for (const response of everything) {
      expect(response.status).toBe(200);
      expect(response.text).not.toContain('sk_sg_');
      expect(response.text).not.toContain(rootToken.slice(6));
      expect(response.text).not.toContain(run.token.slice(6));
    }
  });

  it('answers unknown keys and bad bodies with a code and a sentence naming what is wrong', async () => {
    expect((await world.call('GET', '/v1/keys/key_nope')).json).toEqual({
      error: { code: 'key_unknown', message: 'no key key_nope' },
    });
    expect((await world.call('POST', '/v1/keys/key_nope/revoke')).status).toBe(404);
    const badPolicy = await world.call('POST', '/v1/keys', { policy: 'nope' });
    expect(badPolicy).toMatchObject({ status: 400, json: { error: { code: 'request_invalid' } } });
    expect(badPolicy.json.error.message).toContain('no policy named "nope"');
    const extra = await world.call('POST', '/v1/keys', { policy: 'billing', admin: true });
    expect(extra.json.error.message).toBe('unknown body field admin: not recognised');
    expect((await world.call('POST', '/v1/keys', '{not json')).json.error.message).toBe(
      'the body is not JSON',
    );
    const limit = await world.call('GET', '/v1/audit?limit=5000');
    expect(limit.json.error.message).toMatch(/^query parameter limit: /);
    expect((await world.call('GET', '/v1/audit?limit=1&limit=2')).json.error.message).toBe(
      'query parameter limit is repeated',
    );
    expect((await world.call('DELETE', '/v1/keys')).status).toBe(405);
    expect((await world.call('GET', '/v2/keys')).status).toBe(404);
    const big = await world.call('POST', '/v1/keys', { policy: 'billing', name: 'x'.repeat(70_000) });
    expect(big).toMatchObject({ status: 413, json: { error: { code: 'request_invalid' } } });
  });
});

describe('the audit log', () => {
  it('filters by key, run and decision, pages, exports JSON lines, and verify names a tampered row', async () => {
    const root = await world.guard.keys.issueRoot({ policy: 'billing' });
    const a = await world.guard.keys.derive(root.token, { runId: 'a' });
    const b = await world.guard.keys.derive(root.token, { runId: 'b' });
    await world.pay(a.token, 1000);
    await world.pay(a.token, 1000); // replayed
    await world.pay(b.token, 2000);
    await world.pay(b.token, 20_000); // over the run cap: denied

    const byRun = await world.call('GET', '/v1/audit?run=a');
    expect(byRun.json.rows.map((r: { decision: string }) => r.decision)).toEqual(['executed', 'replayed']);
    const denied = await world.call('GET', `/v1/audit?key=${b.id}&decision=denied,failed`);
    expect(denied.json.rows).toEqual([expect.objectContaining({ runId: 'b', code: 'cap_exceeded' })]);
    const newest = await world.call('GET', '/v1/audit?before=5&limit=2');
    expect(newest.json.rows.map((r: { seq: number }) => r.seq)).toEqual([3, 4]);
    const future = await world.call('GET', `/v1/audit?from=${new Date(Date.now() + 60_000).toISOString()}`);
    expect(future.json.rows).toEqual([]);
    expect((await world.call('GET', '/v1/audit?decision=exploded')).json.error.message).toMatch(/decision/);

    const exported = await world.call('GET', `/v1/audit/export?root=${root.id}`);
    const lines = exported.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(await world.call('GET', '/v1/audit/verify')).toMatchObject({ json: { ok: true, rows: 4 } });

    // Someone with the database file lowers a charge's recorded cost.
    const db = new DatabaseSync(world.file);
    db.prepare("UPDATE sg_audit SET data = json_set(data, '$.actualCostUsd', 1) WHERE seq = 3").run();
    db.close();
    const verdict = await world.call('GET', '/v1/audit/verify');
    expect(verdict.json).toMatchObject({ ok: false, seq: 3, problem: 'edited' });
    const streamed = await world.call('GET', '/v1/audit/verify?stream=true');
    const events = streamed.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.at(-1)).toEqual({ verdict: verdict.json });
  });
});

describe('the audit log by trace', () => {
  it('finds a trace by ?trace= (the id itself or followed by ;), exactly, in list and export', async () => {
    const root = await world.guard.keys.issueRoot({ policy: 'billing' });
    const traced = (traceId: string, cents: number) =>
      world.guard.execute({ ...world.charge(root.token, cents), traceId }, async () => ({
        id: `ch_${cents}`,
        amount: cents,
      }));
    await traced('trace_abc', 1000);
    await traced('trace_abc;group=grp_1', 1100); // the OpenAI Agents adapter's form
    await traced('trace_ab', 1200);
    await traced('trace_abcd', 1300);
    await traced('1%_x\\;thread=th_1;resource=res_1', 1400); // the Mastra adapter's form
    await world.pay(root.token, 1500); // no trace

    const traceIds = async (path: string) =>
      (await world.call('GET', path)).json.rows.map((r: { traceId: string }) => r.traceId);
    expect(await traceIds('/v1/audit?trace=trace_abc')).toEqual(['trace_abc', 'trace_abc;group=grp_1']);
    expect(await traceIds('/v1/audit?trace=trace_ab')).toEqual(['trace_ab']);
    expect(await traceIds(`/v1/audit?trace=${encodeURIComponent('1%_x\\')}`)).toEqual([
      '1%_x\\;thread=th_1;resource=res_1',
    ]);
    // Not a pattern: % and _ are plain characters.
    for (const trace of ['%', '_', 'trace%', 'trace_a_c', '1%'])
      expect(await traceIds(`/v1/audit?trace=${encodeURIComponent(trace)}`)).toEqual([]);
    expect(await traceIds('/v1/audit?trace=trace_abc&before=100&limit=1')).toEqual(['trace_abc;group=grp_1']);

    const exported = await world.call('GET', '/v1/audit/export?trace=trace_abc');
    const lines = exported.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).traceId);
    expect(lines).toEqual(['trace_abc', 'trace_abc;group=grp_1']);

    // The trace id is bounded: empty or over 1000 characters is refused.
    for (const trace of ['', 'x'.repeat(1001)]) {
      const refused = await world.call('GET', `/v1/audit?trace=${trace}`);
      expect(refused).toMatchObject({ status: 400, json: { error: { code: 'request_invalid' } } });
      expect(refused.json.error.message).toMatch(/trace/);
    }
    expect((await world.call('GET', `/v1/audit?trace=${'x'.repeat(1000)}`)).json.rows).toEqual([]);
  });
});

describe('approvals and pending calls', () => {
  it('lists a pending approval, approves it once (recorded with who), and the call then runs', async () => {
    const root = await world.guard.keys.issueRoot({ policy: 'billing' });
    const asked = await world.pay(root.token, 40_000);
    expect(asked.decision).toBe('needs_approval');
    const listed = await world.call('GET', '/v1/approvals');
    expect(listed.json.approvals).toEqual([
      expect.objectContaining({ state: 'pending', keyId: root.id, operation: 'POST /v1/charges' }),
    ]);
    const id = listed.json.approvals[0].id as string;
    const approved = await world.call('POST', `/v1/approvals/${id}/approve`, {
      by: 'lead@shop',
      reason: 'ok',
    });
    expect(approved.json.approval).toMatchObject({ id, state: 'approved', decidedBy: 'lead@shop' });
    const again = await world.call('POST', `/v1/approvals/${id}/deny`, {});
    expect(again).toMatchObject({ status: 409, json: { error: { code: 'conflict' } } });
    expect((await world.call('GET', '/v1/approvals')).json.approvals).toEqual([]);
    expect((await world.pay(root.token, 40_000)).decision).toBe('executed');
    const rows = (await world.call('GET', '/v1/audit?decision=approved')).json.rows;
    expect(rows[0].message).toContain('by lead@shop');
    expect((await world.call('POST', '/v1/approvals/apr_nope/approve')).status).toBe(404);
  });

  it('denies a pending approval (recorded with who and why), and the retried call is refused', async () => {
    const root = await world.guard.keys.issueRoot({ policy: 'billing' });
    expect((await world.pay(root.token, 35_000)).decision).toBe('needs_approval');
    const [waiting] = (await world.call('GET', '/v1/approvals')).json.approvals as { id: string }[];
    const denied = await world.call('POST', `/v1/approvals/${waiting?.id}/deny`, {
      by: 'lead@shop',
      reason: 'not in the budget',
    });
    expect(denied).toMatchObject({
      status: 200,
      json: { approval: { id: waiting?.id, state: 'denied', decidedBy: 'lead@shop' } },
    });
    expect((await world.call('GET', '/v1/approvals?state=denied')).json.approvals).toHaveLength(1);
    expect(await world.pay(root.token, 35_000)).toMatchObject({
      decision: 'denied',
      code: 'approval_denied',
    });
    const again = await world.call('POST', `/v1/approvals/${waiting?.id}/approve`, {});
    expect(again).toMatchObject({ status: 409, json: { error: { code: 'conflict' } } });
  });

  it('lists a call with an unknown outcome and settles it as executed at a cost, or refuses one not pending', async () => {
    const root = await world.guard.keys.issueRoot({ policy: 'billing' });
    expect((await world.payUnknown(root.token, 2500)).decision).toBe('failed');
    const pending = await world.call('GET', '/v1/pending');
    expect(pending.json.pending).toEqual([
      expect.objectContaining({ keyId: root.id, reservedUsd: 25, outcomeUnknown: true }),
    ]);
    const id = pending.json.pending[0].checkpointId as string;
    const settled = await world.call('POST', `/v1/pending/${id}/reconcile`, {
      outcome: 'executed',
      costUsd: 25,
      objectId: 'ch_found',
      by: 'oncall',
    });
    expect(settled.json.checkpoint).toEqual({ id, state: 'completed', keyId: root.id });
    expect((await world.call('GET', '/v1/pending')).json.pending).toEqual([]);
    const twice = await world.call('POST', `/v1/pending/${id}/reconcile`, { outcome: 'failed' });
    expect(twice).toMatchObject({ status: 404, json: { error: { code: 'checkpoint_unknown' } } });
    const bad = await world.call('POST', `/v1/pending/${id}/reconcile`, { outcome: 'maybe' });
    expect(bad.json.error.message).toMatch(/^body field outcome: /);
  });
});

describe('hostile requests', () => {
  it('any method, path, query and body gets JSON with a known code or a 2xx, never a crash or a token', async () => {
    const root = await world.guard.keys.issueRoot({ policy: 'billing' });
    const segment = fc.oneof(
      fc.constantFrom(
        'v1',
        'keys',
        'audit',
        'approvals',
        'pending',
        'spend',
        'derive',
        'revoke',
        'export',
        root.id,
      ),
      fc.string({ maxLength: 12 }).map(encodeURIComponent),
      fc.constantFrom('%', '%ZZ', '..', '__proto__', 'constructor'),
    );
    const query = fc.array(
      fc.tuple(
        fc.constantFrom(
          'limit',
          'after',
          'before',
          'from',
          'to',
          'decision',
          'state',
          'root',
          'trace',
          'x',
          '__proto__',
        ),
        fc.oneof(
          fc.string({ maxLength: 10 }),
          fc.constantFrom('-1', '1e309', 'NaN', 'pending', 'executed,denied'),
        ),
      ),
      { maxLength: 4 },
    );
    const body = fc.oneof(
      fc.json(),
      fc.string({ maxLength: 50 }),
      fc.constant('{"__proto__":{"polluted":1},"policy":"billing"}'),
      fc.constant('{"outcome":"executed","costUsd":-1}'),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
        fc.array(segment, { minLength: 1, maxLength: 5 }),
        query,
        body,
        async (method, segments, params, text) => {
          const search = new URLSearchParams(params).toString();
          const path = `/${segments.join('/')}${search ? `?${search}` : ''}`;
          const response = await world.call(method, path, method === 'GET' ? undefined : text);
          expect(response.status).toBeLessThan(500);
          if (response.status >= 400) {
            expect(ERROR_CODES).toContain(response.json?.error?.code);
            expect(typeof response.json.error.message).toBe('string');
          }
          if (response.status !== 201) expect(response.text).not.toContain('sk_sg_');
          expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        },
      ),
      { numRuns: 1500 },
    );
  });
});

it('reports health without the token', async () => {
  expect(await world.call('GET', '/healthz', undefined, '')).toMatchObject({
    status: 200,
    json: { ok: true },
  });
  expect(TOKEN_ENV).toBeTruthy();
});

import { createGuard, type Guard, MemoryStore } from '@spendguard/core';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createProxy, type Proxy as VendorProxy } from './proxy.ts';
import { POLICIES, SECRETS } from './test-world.ts';

// Hostile requests straight into createProxy().fetch, against a fake upstream that counts calls.
// Each case has at least one defect the proxy (or the guard's decoder) must refuse; everything
// else about it is random. Never a throw or a hang, never a call upstream, always a refusal in
// the vendor's own shape.

const ENVS = {
  SPENDGUARD_PROXY_TEST_STRIPE: SECRETS.stripe,
  SPENDGUARD_PROXY_TEST_TWILIO: SECRETS.twilio,
  SPENDGUARD_PROXY_TEST_RESEND: SECRETS.resend,
};
const LIMITS = { bodyLimitBytes: 4096, headerLimitBytes: 2048, pathLimit: 512 };
const CASE_TIMEOUT_MS = 2000;
const VENDORS = ['stripe', 'twilio', 'resend'] as const;
type Vendor = (typeof VENDORS)[number];
const PATHS: Record<Vendor, string> = {
  stripe: '/v1/charges',
  twilio: '/2010-04-01/Accounts/AC123/Messages.json',
  resend: '/emails',
};

let guard: Guard;
let token: string;
let upstreamCalls = 0;
let proxy: VendorProxy;

beforeAll(async () => {
  Object.assign(process.env, ENVS);
  guard = createGuard({ policies: POLICIES, store: new MemoryStore() });
  token = (await guard.keys.issueRoot({ policy: 'billing-agent' })).token;
  proxy = createProxy({
    guard,
    ...LIMITS,
    upstreams: { stripe: 'http://stripe.test', twilio: 'http://twilio.test', resend: 'http://resend.test' },
    fetch: async () => {
      upstreamCalls++;
      return Response.json({ id: 'obj_1' });
    },
  });
});
afterAll(() => {
  for (const name of Object.keys(ENVS)) delete process.env[name];
});

/** One generated request: what to build, and the vendor whose shape the refusal must have. */
interface Case {
  vendor: Vendor | undefined;
  method: string;
  path: string;
  /** The target as a client sent it, when it differs from what the URL parser keeps. */
  target?: string;
  headers: [string, string][];
  body?: string;
}

const auth = (vendor: Vendor, key: string): [string, string] =>
  vendor === 'twilio'
    ? ['authorization', `Basic ${Buffer.from(`AC123:${key}`).toString('base64')}`]
    : ['authorization', `Bearer ${key}`];

/** Strings over a set of characters (much faster to generate than `stringMatching`). */
const chars = (set: string, minLength: number, maxLength: number) =>
  fc.string({ unit: fc.constantFrom(...set), minLength, maxLength });
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const ALNUM = `${LOWER}${LOWER.toUpperCase()}0123456789`;
const VISIBLE = Array.from({ length: 0x7e - 0x20 + 1 }, (_, i) => String.fromCharCode(0x20 + i)).join('');
const headerName = fc
  .tuple(fc.constantFrom(...LOWER), chars(`${LOWER}0123456789-`, 0, 15))
  .map(([first, rest]) => first + rest)
  .filter(
    (n) => !['authorization', 'content-length', 'host', 'content-type', 'transfer-encoding'].includes(n),
  );
const headerValue = chars(VISIBLE, 1, 32).filter((v) => v.trim() !== '');
const extraHeaders = fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 });
const segment = chars(`${ALNUM}_~-`, 1, 12);
const junk = fc.string({ unit: 'binary', maxLength: 200 });

/** A path of the vendor's with one defect a plain path cannot have. */
const malformedPath = fc
  .tuple(
    fc.array(segment, { minLength: 1, maxLength: 4 }),
    fc.constantFrom('%2F', '%2f', '%5C', '%2e%2e', '%00', '%', '%zz', '', '%E2%82%AC', '%20'),
    fc.nat(4),
    fc.boolean(),
  )
  .map(([parts, defect, at, trailing]) => {
    const segments = [...parts];
    segments.splice(Math.min(at, segments.length), 0, defect === '' ? '' : `x${defect}y`);
    return `/${segments.join('/')}${trailing ? '/' : ''}`;
  });

/** A target with dot segments or backslashes, which URL parsing would resolve. */
const unresolvedTarget = fc
  .tuple(
    fc.array(segment, { minLength: 1, maxLength: 3 }),
    fc.constantFrom('/..', '/.', '\\', '/%2e', '/%2E%2e'),
  )
  .map(([parts, dots]) => `/${parts.join('/')}${dots}/charges`);

const hostileAuth = (vendor: Vendor) =>
  fc.oneof(
    fc.constant<[string, string] | undefined>(undefined),
    fc.constant(auth(vendor, SECRETS[vendor])),
    headerValue.map((v): [string, string] => ['authorization', `Bearer ${v}`]),
    junk.map((v): [string, string] => [
      'authorization',
      `Basic ${Buffer.from(v, 'latin1').toString('base64')}`,
    ]),
    fc
      .constantFrom('sk_sg_', 'sk_sg_%41', 'sk_sg_a b', `${'sk_sg_'}${'a'.repeat(300)}`)
      .map((k) => auth(vendor, k)),
    headerValue.map((v): [string, string] => ['authorization', `Token ${v}`]),
  );

/** A body the guard's decoder must refuse, around random text. */
const hostileBody = (vendor: Vendor) => {
  const form = fc.constantFrom(
    '__proto__[amount]=1',
    'constructor[prototype][x]=1',
    'metadata[prototype]=1',
    `a${'[b]'.repeat(20)}=1`,
    'items[100]=x',
    Array.from({ length: 1001 }, (_, i) => `p${i}=1`).join('&'),
    ...(vendor === 'stripe' ? ['amount=1&amount=2'] : []),
  );
  const json = fc.constantFrom(
    '{"__proto__":{"x":1}}',
    `${'['.repeat(20)}1${']'.repeat(20)}`,
    `[${Array.from({ length: 1001 }, () => '{}').join(',')}]`,
    '{"to":"a@example.com","constructor":{"prototype":1}}',
    '"just a string"',
  );
  if (vendor === 'resend') {
    // (An empty body is an empty email, refused by the policy instead: not a decoder case.)
    return fc.oneof(
      json,
      junk.filter((text) => text.trim() !== '' && !isJson(text)),
    );
  }
  return fc
    .tuple(junk.map(encodeURIComponent), form, fc.boolean())
    .map(([noise, bad, first]) => (first ? `${bad}&n=${noise}` : `n=${noise}&${bad}`));
};

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const caseOf = (vendor: Vendor) =>
  fc.oneof(
    // a method the vendors' APIs do not use
    fc
      .record({
        method: fc.oneof(
          fc.constantFrom('OPTIONS', 'HEAD', 'PROPFIND', 'MKCOL', 'LINK'),
          chars(LOWER.toUpperCase(), 3, 9),
        ),
        headers: extraHeaders,
      })
      .filter(
        (c) => !['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'TRACE', 'TRACK'].includes(c.method),
      )
      .map(
        (c): Case => ({
          vendor,
          method: c.method,
          path: `/${vendor}${PATHS[vendor]}`,
          headers: [auth(vendor, token), ...c.headers],
        }),
      ),
    // a malformed path
    fc.tuple(malformedPath, extraHeaders, junk).map(
      ([path, headers, body]): Case => ({
        vendor,
        method: 'POST',
        path: `/${vendor}${path}`,
        headers: [auth(vendor, token), ...headers],
        body,
      }),
    ),
    // dot segments or backslashes as the client sent them
    fc.tuple(unresolvedTarget, extraHeaders).map(
      ([target, headers]): Case => ({
        vendor,
        method: 'POST',
        path: `/${vendor}${PATHS[vendor]}`,
        target: `/${vendor}${target}`,
        headers: [auth(vendor, token), ...headers],
        body: 'amount=1',
      }),
    ),
    // no vault key, or anything else in its place
    fc.tuple(hostileAuth(vendor), extraHeaders, junk).map(
      ([authorization, headers, body]): Case => ({
        vendor,
        method: 'POST',
        path: `/${vendor}${PATHS[vendor]}`,
        headers: [...(authorization ? [authorization] : []), ...headers],
        body,
      }),
    ),
    // a body the decoder refuses
    fc.tuple(hostileBody(vendor), extraHeaders).map(
      ([body, headers]): Case => ({
        vendor,
        method: 'POST',
        path: `/${vendor}${PATHS[vendor]}`,
        body,
        headers: [
          auth(vendor, token),
          ['content-type', vendor === 'resend' ? 'application/json' : 'application/x-www-form-urlencoded'],
          ...headers,
        ],
      }),
    ),
    // past a size limit: body, headers or path
    fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.constantFrom('body', 'headers', 'path'), extraHeaders).map(
      ([extra, where, headers]): Case => ({
        vendor,
        method: 'POST',
        path: `/${vendor}${PATHS[vendor]}${where === 'path' ? `?q=${'q'.repeat(LIMITS.pathLimit + extra)}` : ''}`,
        headers: [
          auth(vendor, token),
          ...headers,
          ...(where === 'headers'
            ? [['x-pad', 'p'.repeat(LIMITS.headerLimitBytes + extra)] as [string, string]]
            : []),
        ],
        body: where === 'body' ? 'a'.repeat(LIMITS.bodyLimitBytes + extra) : 'amount=1',
      }),
    ),
  );

const unknownRoute = fc
  .tuple(
    segment.filter((s) => ![...VENDORS, 'v1', 'v2', 'healthz', 'metrics'].includes(s)),
    fc.array(segment, { maxLength: 3 }),
    extraHeaders,
  )
  .map(
    ([first, rest, headers]): Case => ({
      vendor: undefined,
      method: 'POST',
      path: `/${[first, ...rest].join('/')}`,
      headers,
      body: 'amount=1',
    }),
  );

const hostileCase = fc.oneof(
  { arbitrary: fc.constantFrom(...VENDORS).chain(caseOf), weight: 9 },
  { arbitrary: unknownRoute, weight: 1 },
);

function build(c: Case): Request {
  const hasBody = c.body !== undefined && c.method !== 'GET' && c.method !== 'HEAD';
  return new Request(`http://proxy.test${c.path}`, {
    method: c.method,
    headers: c.headers,
    ...(hasBody && { body: c.body }),
  });
}

async function bounded(response: Promise<Response>): Promise<Response> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
  });
  try {
    return await Promise.race([response, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** The refusal has the vendor's own error shape, with a spendguard code. */
function expectVendorShape(
  vendor: Vendor | undefined,
  status: number,
  body: unknown,
  headers: Headers,
): void {
  const code = headers.get('spendguard-decision');
  expect(code).toMatch(/^[a-z_]+$/);
  switch (vendor) {
    case 'stripe':
      expect(body).toMatchObject({
        error: { type: expect.any(String), code: `spendguard_${code}`, message: expect.any(String) },
      });
      expect(headers.get('stripe-should-retry')).toBe('false');
      return;
    case 'twilio':
      expect(body).toMatchObject({ status, code: `spendguard_${code}`, message: expect.any(String) });
      return;
    case 'resend':
      expect(body).toMatchObject({
        statusCode: status,
        name: `spendguard_${code}`,
        message: expect.any(String),
      });
      return;
    case undefined:
      expect(body).toEqual({ error: { code: 'spendguard_route_unknown', message: expect.any(String) } });
  }
}

it('refuses 10,000 hostile requests in the vendor shape: no throw, no hang, no call upstream', async () => {
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(hostileCase, async (c) => {
      const response = await bounded(
        proxy.fetch(build(c), c.target === undefined ? {} : { target: c.target }),
      );
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expectVendorShape(c.vendor, response.status, await response.json(), response.headers);
      expect(upstreamCalls).toBe(0);
    }),
    { numRuns: 10_000 },
  );
  // Every kind of refusal was reached.
  expect([...statuses.keys()].sort()).toEqual([400, 401, 404, 405, 413, 414, 431]);
}, 120_000);

it('answers random well-formed requests with the vendor answer or a vendor-shaped refusal, calling upstream only for the executed', async () => {
  const params = fc.dictionary(
    fc.constantFrom(
      'amount',
      'currency',
      'source',
      'customer',
      'metadata[order_id]',
      'To',
      'From',
      'Body',
      'description',
    ),
    fc.oneof(
      fc.integer({ min: -10, max: 9000 }).map(String),
      fc.constantFrom('usd', 'eur', '+15551230001', '+9005550100', 'tok_visa'),
      segment,
    ),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('stripe', 'twilio') satisfies fc.Arbitrary<Vendor>,
      params,
      extraHeaders,
      async (vendor, body, headers) => {
        const before = upstreamCalls;
        const c: Case = {
          vendor,
          method: 'POST',
          path: `/${vendor}${PATHS[vendor]}`,
          headers: [auth(vendor, token), ['content-type', 'application/x-www-form-urlencoded'], ...headers],
          body: new URLSearchParams(body).toString(),
        };
        const response = await bounded(proxy.fetch(build(c)));
        const decision = response.headers.get('spendguard-decision');
        if (decision === 'executed') {
          expect(await response.json()).toEqual({ id: 'obj_1' });
          expect(upstreamCalls).toBe(before + 1);
        } else {
          expect(upstreamCalls).toBe(before);
          if (decision?.startsWith('replayed')) expect(await response.json()).toEqual({ id: 'obj_1' });
          else expectVendorShape(vendor, response.status, await response.json(), response.headers);
        }
      },
    ),
    { numRuns: 1000 },
  );
}, 60_000);

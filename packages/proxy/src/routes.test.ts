import { describe, expect, it } from 'vitest';
import { DEFAULT_UPSTREAMS } from './options.ts';
import { isWellFormedPath, routeOf } from './routes.ts';

const vendors = new Map(Object.entries(DEFAULT_UPSTREAMS));

describe('routeOf', () => {
  it('reads the vendor from the first segment and keeps the rest as its path', () => {
    expect(routeOf('/stripe/v1/charges/ch_1', vendors)).toEqual({
      kind: 'vendor',
      vendor: 'stripe',
      path: '/v1/charges/ch_1',
    });
    expect(routeOf('/twilio/2010-04-01/Accounts/AC1/Messages.json', vendors)).toEqual({
      kind: 'vendor',
      vendor: 'twilio',
      path: '/2010-04-01/Accounts/AC1/Messages.json',
    });
    expect(routeOf('/resend/emails', vendors)).toEqual({ kind: 'vendor', vendor: 'resend', path: '/emails' });
    expect(routeOf('/resend', vendors)).toEqual({ kind: 'vendor', vendor: 'resend', path: '' });
  });

  it("serves Stripe's own /v1 and /v2 paths, /healthz and /metrics; nothing else", () => {
    expect(routeOf('/v1/refunds', vendors)).toEqual({
      kind: 'vendor',
      vendor: 'stripe',
      path: '/v1/refunds',
    });
    expect(routeOf('/v2/core/events', vendors)).toMatchObject({ vendor: 'stripe', path: '/v2/core/events' });
    expect(routeOf('/healthz', vendors)).toEqual({ kind: 'health' });
    expect(routeOf('/metrics', vendors)).toEqual({ kind: 'metrics' });
    for (const path of [
      '/',
      '/paypal/v1/x',
      '/constructor/x',
      '/__proto__/x',
      '/healthz/x',
      '/Stripe/v1/charges',
    ]) {
      expect(routeOf(path, vendors), path).toEqual({ kind: 'unknown' });
    }
  });
});

describe('isWellFormedPath', () => {
  it('accepts the plain form the policy matches', () => {
    expect(
      isWellFormedPath('/v1/charges/ch_1', '/stripe/v1/charges/ch_1', '/stripe/v1/charges/ch_1?expand[]=x'),
    ).toBe(true);
    expect(isWellFormedPath('/v1/charges', '/v1/charges', undefined)).toBe(true);
  });

  it('refuses empty, dot and encoded segments, a trailing slash, and a target the URL parser changed', () => {
    for (const path of ['', '/', '/v1//charges', '/v1/charges/', '/v1/%2F', '/v1/a%2e', '/v1/..', '/v1/.']) {
      expect(isWellFormedPath(path, `/stripe${path}`, undefined), path).toBe(false);
    }
    // URL parsing turned these into /stripe/v1/charges; the client did not send that.
    for (const target of ['/stripe/v1/x/../charges', '/stripe\\v1\\charges', '/stripe/v1/./charges']) {
      expect(isWellFormedPath('/v1/charges', '/stripe/v1/charges', target), target).toBe(false);
    }
  });
});

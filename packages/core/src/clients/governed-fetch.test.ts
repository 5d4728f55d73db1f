import { createFakeResend, type FakeServer } from '@spendguard/testkit';
import { Resend } from 'resend';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { SpendguardError } from '../errors.ts';
import { createGuard, type Guard } from '../guard.ts';
import type { PolicyDocument } from '../policy.ts';
import { MemoryStore } from '../stores/memory-store.ts';
import { createGovernedFetch } from './governed-fetch.ts';

const API_KEY = 're_REAL_resend_key_42';
const ENV = 'SPENDGUARD_TEST_RESEND_KEY';
const fake = createFakeResend({ apiKey: API_KEY });

const policies: PolicyDocument = {
  policies: {
    mailer: {
      resend: { allow: ['POST /emails', 'POST /emails/batch'], prices: { email: 0.001 } },
      caps: { perKey: 0.004 },
    },
  },
  credentials: { resend: { env: ENV } },
};

let server: FakeServer;
let guard: Guard;
let token: string;
const realFetch = globalThis.fetch;

beforeAll(async () => {
  server = await fake.listen();
  process.env[ENV] = API_KEY;
});
afterAll(async () => {
  await server.close();
  delete process.env[ENV];
});
beforeEach(async () => {
  fake.reset();
  guard = createGuard({ policies, store: new MemoryStore() });
  token = (await guard.keys.issueRoot({ policy: 'mailer' })).token;
  // resend-node calls the global fetch: govern it, sending Resend's requests on to the fake.
  vi.stubGlobal('fetch', createGovernedFetch({ guard, upstream: server.url, fetch: realFetch }));
});
afterEach(() => {
  vi.unstubAllGlobals();
});

const email = { from: 'shop@example.com', to: 'ada@example.com', subject: 'Receipt', text: 'Thanks!' };

describe('governed fetch, with the Resend SDK', () => {
  it('sends an email once, with our idempotency key, the real key and the vault key kept apart', async () => {
    const resend = new Resend(token);
    const first = await resend.emails.send(email);
    const again = await resend.emails.send(email);
    expect(first.error).toBeNull();
    expect(again.data?.id).toBe(first.data?.id);
    expect(fake.ledger.count()).toBe(1);
    expect(fake.ledger.emails[0]?.idempotencyKey).toMatch(/^sg_/);
  });

  it('prices a batch by recipients and stops at the cap', async () => {
    const resend = new Resend(token);
    const batch = await resend.batch.send([
      { ...email, to: ['a@example.com', 'b@example.com'] },
      { ...email, to: 'c@example.com', bcc: 'audit@example.com' },
    ]);
    expect(batch.error).toBeNull();
    expect(fake.ledger.recipients()).toBe(4);
    const refused = await resend.emails.send({ ...email, to: 'd@example.com' });
    expect(refused.error).toMatchObject({ statusCode: 403, name: 'spendguard_cap_exceeded' });
    expect(fake.ledger.count()).toBe(2);
  });

  it("refuses without a vault key, in Resend's error shape", async () => {
    const resend = new Resend('re_not_a_vault_key');
    const refused = await resend.emails.send(email);
    expect(refused.error).toMatchObject({ statusCode: 401, name: 'spendguard_key_unknown' });
    expect(fake.ledger.requests).toHaveLength(0);
  });
});

it('throws for a host with no vendor profile: a misconfiguration, not a call to wave through', async () => {
  const guardless = createGuard({ policies, store: new MemoryStore() });
  const governed = createGovernedFetch({ guard: guardless });
  await expect(governed('https://api.example.com/v1/pay', { method: 'POST' })).rejects.toBeInstanceOf(
    SpendguardError,
  );
});

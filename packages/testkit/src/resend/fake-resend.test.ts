import { Resend } from 'resend';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FakeServer } from '../http-server.ts';
import { createFakeResend, type FakeResend } from './fake-resend.ts';

const KEY = 're_test_fake';
const email = {
  from: 'Shop <orders@shop.example>',
  to: ['ada@example.com', 'alan@example.com'],
  cc: 'grace@example.com',
  bcc: ['audit@shop.example'],
  subject: 'Your receipt',
  text: 'Thanks!',
};
let fake: FakeResend;
let server: FakeServer;
let resend: Resend;

beforeEach(async () => {
  fake = createFakeResend({ apiKey: KEY });
  server = await fake.listen();
  resend = new Resend(KEY, { baseUrl: server.url });
});

afterEach(() => server.close());

describe('sending', () => {
  it('sends an email and counts to + cc + bcc', async () => {
    const { data, error } = await resend.emails.send(email);
    expect(error).toBeNull();
    expect(data?.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(fake.ledger.emails).toEqual([
      expect.objectContaining({ id: data?.id, recipients: 4, cc: ['grace@example.com'], batch: false }),
    ]);
    expect(fake.ledger.recipients()).toBe(4);
    const fetched = await resend.emails.get(data?.id as string);
    expect(fetched.data).toMatchObject({ id: data?.id, subject: 'Your receipt' });
  });

  it('sends a batch', async () => {
    const { data, error } = await resend.batch.send([
      email,
      { ...email, to: 'one@example.com', cc: [], bcc: [] },
    ]);
    expect(error).toBeNull();
    expect(data?.data).toHaveLength(2);
    expect(fake.ledger.count()).toBe(2);
    expect(fake.ledger.recipients()).toBe(5);
  });

  it('refuses a whole strict batch with an invalid email; permissive sends the rest', async () => {
    const batch = [email, { ...email, from: 'nobody' }];
    const strict = await resend.batch.send(batch);
    expect(strict.error).toMatchObject({ statusCode: 422, name: 'invalid_from_address' });
    expect(fake.ledger.count()).toBe(0);
    const permissive = await resend.batch.send(batch, { batchValidation: 'permissive' });
    expect(permissive.data?.data).toHaveLength(1);
    expect(permissive.data).toMatchObject({ errors: [{ index: 1, message: expect.any(String) }] });
    expect(fake.ledger.count()).toBe(1);
  });

  it('returns validation errors in { error }', async () => {
    const { error } = await resend.emails.send({ ...email, subject: '' });
    expect(error).toEqual({
      statusCode: 422,
      name: 'missing_required_field',
      message: 'Missing `subject` field.',
    });
  });

  it('returns invalid_api_key for a wrong key', async () => {
    const { data, error } = await new Resend('re_wrong', { baseUrl: server.url }).emails.send(email);
    expect(data).toBeNull();
    expect(error).toMatchObject({ statusCode: 403, name: 'invalid_api_key' });
    expect(fake.ledger.count()).toBe(0);
  });
});

describe('idempotency', () => {
  it('replays the same key and payload: one email', async () => {
    const first = await resend.emails.send(email, { idempotencyKey: 'receipt-42' });
    const second = await resend.emails.send(email, { idempotencyKey: 'receipt-42' });
    expect(second.data?.id).toBe(first.data?.id);
    expect(fake.ledger.count()).toBe(1);
    expect(fake.ledger.emails[0]?.idempotencyKey).toBe('receipt-42');
    expect(fake.ledger.requests.map((r) => r.replayed)).toEqual([false, true]);
  });

  it('answers 409 invalid_idempotent_request for the same key with another payload', async () => {
    await resend.emails.send(email, { idempotencyKey: 'receipt-42' });
    const { error } = await resend.emails.send(
      { ...email, subject: 'Changed' },
      { idempotencyKey: 'receipt-42' },
    );
    expect(error).toMatchObject({ statusCode: 409, name: 'invalid_idempotent_request' });
    expect(fake.ledger.count()).toBe(1);
  });

  it('answers 409 concurrent_idempotent_requests while the first is in progress', async () => {
    let arrive = () => {};
    const arrived = new Promise<void>((resolve) => {
      arrive = resolve;
    });
    fake.faults.inject(
      { kind: 'latency', ms: 300 },
      {
        match: () => {
          arrive();
          return true;
        },
      },
    );
    const first = resend.emails.send(email, { idempotencyKey: 'receipt-42' });
    await arrived;
    const { error } = await resend.emails.send(email, { idempotencyKey: 'receipt-42' });
    expect(error).toMatchObject({ statusCode: 409, name: 'concurrent_idempotent_requests' });
    expect((await first).error).toBeNull();
    expect(fake.ledger.count()).toBe(1);
  });

  it('refuses a key longer than 256 characters', async () => {
    const { error } = await resend.emails.send(email, { idempotencyKey: 'k'.repeat(257) });
    expect(error).toMatchObject({ statusCode: 400, name: 'invalid_idempotency_key' });
  });

  it('applies to batches too', async () => {
    await resend.batch.send([email], { idempotencyKey: 'batch-1' });
    await resend.batch.send([email], { idempotencyKey: 'batch-1' });
    expect(fake.ledger.count()).toBe(1);
  });

  it('forgets keys after 24 h on the fake clock', async () => {
    let now = Date.parse('2026-11-24T10:00:00Z');
    await server.close();
    fake = createFakeResend({ apiKey: KEY, now: () => now });
    server = await fake.listen();
    resend = new Resend(KEY, { baseUrl: server.url });
    await resend.emails.send(email, { idempotencyKey: 'k' });
    now += 24 * 60 * 60 * 1000;
    await resend.emails.send(email, { idempotencyKey: 'k' });
    expect(fake.ledger.count()).toBe(2);
  });
});

describe('faults', () => {
  it('fail_after_act: sent, the client sees 500; a retry with the key gets the id', async () => {
    fake.faults.inject({ kind: 'fail_after_act' });
    const failed = await resend.emails.send(email, { idempotencyKey: 'k' });
    expect(failed.error).toMatchObject({ statusCode: 500, name: 'internal_server_error' });
    expect(fake.ledger.count()).toBe(1);
    const retried = await resend.emails.send(email, { idempotencyKey: 'k' });
    expect(retried.data?.id).toBe(fake.ledger.emails[0]?.id);
    expect(fake.ledger.count()).toBe(1);
  });

  it('reset_after_act: sent, the client sees application_error with no status', async () => {
    fake.faults.inject({ kind: 'reset_after_act' });
    const { error } = await resend.emails.send(email);
    expect(error).toMatchObject({ name: 'application_error', statusCode: null });
    expect(fake.ledger.count()).toBe(1);
  });

  it('timeout_after_act: sent, the client gives up through its AbortSignal', async () => {
    fake.faults.inject({ kind: 'timeout_after_act' });
    const { error } = await resend.emails.send(email, { signal: AbortSignal.timeout(100) });
    expect(error).toMatchObject({ name: 'application_error', statusCode: null });
    expect(fake.ledger.count()).toBe(1);
  });

  it('rate_limit: 429 rate_limit_exceeded with retry headers, nothing sent', async () => {
    fake.faults.inject({ kind: 'rate_limit' });
    const { error, headers } = await resend.emails.send(email);
    expect(error).toMatchObject({ statusCode: 429, name: 'rate_limit_exceeded' });
    expect(headers).toMatchObject({ 'retry-after': '1' });
    expect(fake.ledger.count()).toBe(0);
  });
});

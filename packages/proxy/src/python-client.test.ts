import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startWorld, type World } from './test-world.ts';

// A Python program speaking to the proxy as stripe-python and twilio-python do on the wire
// (fixtures/wire_client.py): form bodies in bracket notation, Bearer and Basic auth, a new
// Idempotency-Key per call, the SDKs' own headers and retry rules.
const CLIENT = fileURLToPath(new URL('./fixtures/wire_client.py', import.meta.url));
const LEASE_MS = 1000;

interface CallResult {
  ok: boolean;
  status: number | null;
  decision: string | null;
  replayed: boolean;
  id?: string;
  amount?: number;
  error_type?: string;
  code?: string | number;
  message?: string;
  results?: CallResult[];
}

type Step =
  | { op: 'stripe.charge'; key: string; params: Record<string, unknown> }
  | { op: 'twilio.message'; key: string; account: string; params: Record<string, string> }
  | { op: 'concurrent'; steps: Step[] };

let world: World;

beforeAll(async () => {
  world = await startWorld({ leaseMs: LEASE_MS, proxy: { upstreamTimeoutMs: 400 } });
});
afterAll(() => world.close());
beforeEach(() => {
  world.stripe.reset();
  world.twilio.reset();
});

/** Runs the Python client on a plan; one result per step it ran. Killed after 20 s. */
function python(steps: Step[], options: { stopOnError?: boolean } = {}): Promise<CallResult[]> {
  const plan = {
    stripe_base: `${world.proxy.url}/stripe`, // as stripe.api_base = '…/stripe'
    twilio_base: `${world.proxy.url}/twilio`,
    stop_on_error: options.stopOnError ?? false,
    steps,
  };
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [CLIENT], { stdio: ['pipe', 'pipe', 'pipe'], timeout: 20_000 });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`python exited ${code}: ${err}`));
      else
        resolve(
          out
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((line) => JSON.parse(line) as CallResult),
        );
    });
    child.stdin.end(JSON.stringify(plan));
  });
}

async function runKey(runId: string, caps?: { perRun: number }) {
  return world.guard.keys.derive(world.rootToken, { runId, ...(caps && { caps }) });
}

const charge = (key: string, order: string, amount = 2500): Step => ({
  op: 'stripe.charge',
  key,
  params: { amount, currency: 'usd', source: 'tok_visa', metadata: { order_id: order } },
});

describe('a Python client (stripe-python and twilio-python on the wire)', () => {
  it('F1: the same charge from a retried step is made once; the retry is a replay', async () => {
    const { token } = await runKey('py-f1');
    const [first, retried] = await python([charge(token, 'ord_py1'), charge(token, 'ord_py1')]);
    expect(first).toMatchObject({ ok: true, status: 200, decision: 'executed', amount: 2500 });
    expect(retried).toMatchObject({ ok: true, decision: 'replayed', id: first?.id });
    expect(world.stripe.ledger.count('charge')).toBe(1);
    // The bracket params reached Stripe as Stripe reads them.
    expect(world.stripe.ledger.requests[0]?.params).toMatchObject({ metadata: { order_id: 'ord_py1' } });
  });

  it('F2: two identical calls from two threads at once charge once', async () => {
    const { token } = await runKey('py-f2');
    const [both] = await python([
      { op: 'concurrent', steps: [charge(token, 'ord_py2'), charge(token, 'ord_py2')] },
    ]);
    expect(both?.ok).toBe(true);
    const [a, b] = both?.results ?? [];
    expect(a?.id).toBe(b?.id);
    // One ran; the other waited for it, or (when the threads did not overlap) was replayed after.
    const [executed, replayed] = [a?.decision, b?.decision].sort();
    expect(executed).toBe('executed');
    expect(['replayed', 'replayed_after_wait']).toContain(replayed);
    expect(world.stripe.ledger.count('charge')).toBe(1);
  });

  it('F5: after a timeout where Stripe acted, the retry is re-sent under the same key and replayed', async () => {
    const { token } = await runKey('py-f5');
    world.stripe.faults.inject({ kind: 'timeout_after_act', ms: 10_000 });
    const [timedOut] = await python([charge(token, 'ord_py5')]);
    // Stripe-Should-Retry: false — the client did not retry on its own.
    expect(timedOut).toMatchObject({
      ok: false,
      status: 504,
      error_type: 'APIError',
      code: 'spendguard_outcome_unknown',
    });
    world.clock.advance(LEASE_MS + 1);
    const [retried] = await python([charge(token, 'ord_py5')]);
    expect(retried).toMatchObject({ ok: true, decision: 'executed', amount: 2500 });
    expect(world.stripe.ledger.count('charge')).toBe(1);
    const sent = world.stripe.ledger.requests;
    expect(sent.map((r) => r.replayed)).toEqual([false, true]);
    expect(sent[1]?.idempotencyKey).toBe(sent[0]?.idempotencyKey);
  });

  it('F6: a revoked run key is refused (AuthenticationError); the other run keeps charging', async () => {
    const runA = await runKey('py-f6-a');
    const runB = await runKey('py-f6-b');
    await python([charge(runA.token, 'ord_py6a'), charge(runB.token, 'ord_py6b')]);
    await world.guard.keys.revoke(runA.id);
    const [revoked, other] = await python([charge(runA.token, 'ord_py6a2'), charge(runB.token, 'ord_py6b2')]);
    expect(revoked).toMatchObject({
      status: 401,
      error_type: 'AuthenticationError',
      code: 'spendguard_key_revoked',
    });
    expect(other).toMatchObject({ ok: true, decision: 'executed' });
    expect(world.stripe.ledger.count('charge')).toBe(3);
    const rows = await world.guard.audit.list({ runId: 'py-f6-a' });
    expect(rows.map((r) => [r.keyId, r.code])).toEqual([
      [runA.id, 'executed'],
      [runA.id, 'key_revoked'],
    ]);
  });

  it('F7: a loop of $25 charges stops exactly at the $100 run cap', async () => {
    const { token, id } = await runKey('py-f7', { perRun: 100 });
    const steps = Array.from({ length: 10 }, (_, i) => charge(token, `ord_py7_${i}`));
    const results = await python(steps, { stopOnError: true });
    expect(results.map((r) => r.ok)).toEqual([true, true, true, true, false]);
    expect(results[4]).toMatchObject({
      status: 403,
      error_type: 'PermissionError',
      code: 'spendguard_cap_exceeded',
    });
    expect(world.stripe.ledger.moneyMoved('usd')).toBe(10_000);
    expect((await world.guard.spend(id)).lifetimeUsd).toBe(100);
  });

  it("F8: an amount over the maximum and a premium-rate SMS are refused in each vendor's shape, unsent", async () => {
    const { token } = await runKey('py-f8');
    const [tooMuch, premium, fine] = await python([
      charge(token, 'ord_py8', 6000),
      {
        op: 'twilio.message',
        key: token,
        account: world.twilio.accountSid,
        params: { To: '+9005550100', From: '+15550000000', Body: 'win a prize' },
      },
      {
        op: 'twilio.message',
        key: token,
        account: world.twilio.accountSid,
        params: { To: '+15551230001', From: '+15550000000', Body: 'Your receipt' },
      },
    ]);
    expect(tooMuch).toMatchObject({
      status: 403,
      error_type: 'PermissionError',
      code: 'spendguard_param_not_allowed',
    });
    expect(premium).toMatchObject({
      status: 403,
      error_type: 'TwilioRestException',
      code: 'spendguard_param_not_allowed',
    });
    expect(fine).toMatchObject({ ok: true, status: 201, decision: 'executed' });
    expect(world.stripe.ledger.requests).toHaveLength(0);
    expect(world.twilio.ledger.messages.map((m) => m.to)).toEqual(['+15551230001']);
  });
});

import { fileURLToPath } from 'node:url';
import { type AuditRow, createGuard, type Guard, type Store } from '@spendguard/core';
import { createGovernedStripe } from '@spendguard/core/stripe';
import { createGovernedTwilio } from '@spendguard/core/twilio';
import { createFakeStripe, createFakeTwilio, type FakeServer } from '@spendguard/testkit';
import { type DemoColumn, type DemoRow, overrun } from '@spendguard/testkit/adapters';
import Stripe from 'stripe';
import twilio from 'twilio';

/** The clients a workload gets: plain SDKs (without) or governed ones (with). */
interface Clients {
  stripe: Stripe;
  twilio: twilio.Twilio;
}

interface Scenario {
  id: string;
  title: string;
  expectedObjects: number;
  maxMoneyUsd: number;
  /** Run-key caps for the run with spendguard. */
  runCaps?: { perRun: number };
  /** Work done before the workload in both columns (not counted); its result joins the context. */
  setup?: (stripe: Stripe, customers: Record<string, string>) => Promise<Record<string, string>>;
  /** The agent-like workload; returns how many tool calls it attempted. `context` maps customer names to ids. */
  workload: (clients: Clients, context: Record<string, string>, faults: Faults) => Promise<number>;
}

interface Faults {
  /** The next Stripe call acts, then never answers: the client times out. */
  timeoutNextStripeCall(): void;
}

const STRIPE_SECRET = 'sk_test_spendguard_demo';
const TWILIO_TOKEN = 'spendguard_demo_twilio_token';
const POLICY_FILE = fileURLToPath(new URL('../spendguard.yaml', import.meta.url));

/** A tool as a framework runs it: errors become a result the model reads, never a crash. */
async function tool(call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch {
    // the model would read the error; the workload goes on
  }
}

const charge = (stripe: Stripe, customer: string | undefined, amount: number, order: string) =>
  tool(() =>
    stripe.charges.create({
      amount,
      currency: 'usd',
      customer: customer as string,
      metadata: { order_id: order },
    }),
  );

/** The customers the workloads bill, created at the fake Stripe before each run (not counted). */
const CUSTOMERS = ['ada', 'bob', 'c1', 'c2', 'c3', 'c4', 'c5', 'cy', 'dee', 'eve'];

export const SCENARIOS: Scenario[] = [
  {
    id: 'F1',
    title: 'retry after success: a later step throws, the step is retried',
    expectedObjects: 1,
    maxMoneyUsd: 49.99,
    async workload({ stripe }, customers) {
      for (let attempt = 1; attempt <= 2; attempt++) {
        await charge(stripe, customers.ada, 4999, 'ord_1001');
        // step 2 (sending the receipt) throws on the first attempt; the framework retries the step
      }
      return 2;
    },
  },
  {
    id: 'F2',
    title: 'parallel duplicates: one model turn emits the same charge twice',
    expectedObjects: 1,
    maxMoneyUsd: 120,
    async workload({ stripe }, customers) {
      await Promise.all([
        charge(stripe, customers.bob, 12_000, 'ord_2001'),
        charge(stripe, customers.bob, 12_000, 'ord_2001'),
      ]);
      return 2;
    },
  },
  {
    id: 'F3',
    title: 'fan-out re-dispatch: billing 5 customers restarts from the first after a crash',
    expectedObjects: 5,
    maxMoneyUsd: 100,
    async workload({ stripe }, customers) {
      const batch = ['c1', 'c2', 'c3', 'c4', 'c5'];
      let attempted = 0;
      for (const [i, name] of batch.entries()) {
        if (i === 3) break; // the orchestrator crashes before the fourth customer
        attempted++;
        await charge(stripe, customers[name], 2000, `inv_${name}`);
      }
      for (const name of batch) {
        attempted++;
        await charge(stripe, customers[name], 2000, `inv_${name}`);
      }
      return attempted;
    },
  },
  {
    id: 'F5',
    title: 'transport retry: the charge timed out after Stripe acted, the tool retries',
    expectedObjects: 1,
    maxMoneyUsd: 75,
    async workload({ stripe }, customers, faults) {
      faults.timeoutNextStripeCall();
      let attempted = 0;
      for (let attempt = 1; attempt <= 3; attempt++) {
        attempted++;
        try {
          await stripe.charges.create(
            {
              amount: 7500,
              currency: 'usd',
              customer: customers.cy as string,
              metadata: { order_id: 'ord_5001' },
            },
            { timeout: 150, maxNetworkRetries: 0 },
          );
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 400)); // back off, then try again
        }
      }
      return attempted;
    },
  },
  {
    id: 'F7',
    title: 'stuck loop: 20 legal $15 refunds, run cap $100',
    runCaps: { perRun: 100 },
    expectedObjects: 6,
    maxMoneyUsd: 100,
    async setup(stripe, customers) {
      const paid = await stripe.charges.create({
        amount: 50_000,
        currency: 'usd',
        customer: customers.dee as string,
      });
      return { charge: paid.id };
    },
    async workload({ stripe }, { charge: chargeId }) {
      for (let i = 0; i < 20; i++) {
        await tool(() =>
          stripe.refunds.create({
            charge: chargeId as string,
            amount: 1500,
            metadata: { attempt: String(i) },
          }),
        );
      }
      return 20;
    },
  },
  {
    id: 'F8',
    title: 'parameter bleed: a $900 charge (max $500) and an SMS to a premium number',
    expectedObjects: 0,
    maxMoneyUsd: 0,
    async workload({ stripe, twilio: sms }, customers) {
      await charge(stripe, customers.eve, 90_000, 'ord_8001');
      await tool(() =>
        sms.messages.create({ to: '+8819012345', from: '+15550000000', body: 'Your code: 1234' }),
      );
      return 2;
    },
  },
];

export interface DemoOptions {
  /** Default: the SQLite store under .spendguard/ in the working directory, as with no configuration. */
  store?: Store;
  /** Run only these scenarios (ids). Default: all. */
  only?: string[];
  onScenario?: (result: DemoRow) => void;
}

/** Run every scenario without and with spendguard against fake Stripe and Twilio servers. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoRow[]> {
  process.env.SPENDGUARD_DEMO_STRIPE_KEY = STRIPE_SECRET;
  process.env.SPENDGUARD_DEMO_TWILIO_TOKEN = TWILIO_TOKEN;
  const fakeStripe = createFakeStripe({ secretKey: STRIPE_SECRET });
  const fakeTwilio = createFakeTwilio({ authToken: TWILIO_TOKEN });
  const servers: FakeServer[] = [await fakeStripe.listen(), await fakeTwilio.listen()];
  const [stripeServer, twilioServer] = servers as [FakeServer, FakeServer];
  const stripeConfig = { host: '127.0.0.1', port: stripeServer.port, protocol: 'http' as const };
  // A short lease so the demo's timed-out charge may be re-sent within a second.
  const guard = createGuard({
    policies: POLICY_FILE,
    leaseMs: 300,
    ...(options.store && { store: options.store }),
  });
  const faults: Faults = {
    timeoutNextStripeCall: () => fakeStripe.faults.inject({ kind: 'timeout_after_act', ms: 5000 }),
  };
  const results: DemoRow[] = [];
  try {
    const root = await guard.keys.issueRoot({ policy: 'billing-agent', name: `demo-${Date.now()}` });
    for (const scenario of SCENARIOS.filter((s) => !options.only || options.only.includes(s.id))) {
      const columns: DemoColumn[] = [];
      let audit: AuditRow[] = [];
      for (const governed of [false, true]) {
        fakeStripe.reset();
        fakeTwilio.reset();
        const plainStripe = new Stripe(STRIPE_SECRET, { ...stripeConfig, maxNetworkRetries: 0 });
        const customers: Record<string, string> = {};
        for (const name of CUSTOMERS) customers[name] = (await plainStripe.customers.create({ name })).id;
        const context = { ...customers, ...(await scenario.setup?.(plainStripe, customers)) };
        const movementsBefore = fakeStripe.ledger.movements.length;
        const clients = governed
          ? await governedClients(
              guard,
              root.token,
              scenario,
              stripeConfig,
              twilioServer.url,
              fakeTwilio.accountSid,
            )
          : { stripe: plainStripe, twilio: plainTwilio(fakeTwilio.accountSid, twilioServer.url) };
        const seqBefore = (await guard.audit.list()).at(-1)?.seq ?? 0;
        const attempted = await scenario.workload(clients, context, faults);
        const rows = governed ? await guard.audit.list({ afterSeq: seqBefore }) : [];
        if (governed) audit = rows;
        const moved = fakeStripe.ledger.movements.slice(movementsBefore);
        columns.push({
          attempted,
          objects: moved.length + fakeTwilio.ledger.count(),
          moneyMovedUsd: moved.reduce((sum, m) => sum + Math.abs(m.amount), 0) / 100,
          replays: rows.filter((r) => r.decision === 'replayed').length,
          denials: rows.filter((r) => r.decision === 'denied').length,
        });
      }
      const result: DemoRow = {
        id: scenario.id,
        title: scenario.title,
        without: columns[0] as DemoColumn,
        with: columns[1] as DemoColumn,
        expectedObjects: scenario.expectedObjects,
        maxMoneyUsd: scenario.maxMoneyUsd,
        audit,
      };
      results.push(result);
      options.onScenario?.(result);
    }
  } finally {
    await guard.close();
    await Promise.all(servers.map((s) => s.close()));
  }
  return results;
}

async function governedClients(
  guard: Guard,
  rootToken: string,
  scenario: Scenario,
  stripeConfig: Stripe.StripeConfig,
  twilioUrl: string,
  accountSid: string,
): Promise<Clients> {
  const runId = `${scenario.id}-${Date.now()}`;
  const run = await guard.keys.derive(rootToken, {
    runId,
    ...(scenario.runCaps && { caps: scenario.runCaps }),
  });
  return {
    stripe: createGovernedStripe({
      guard,
      key: run.token,
      runId,
      agentId: 'billing-agent',
      config: { ...stripeConfig, maxNetworkRetries: 0 },
    }),
    twilio: createGovernedTwilio({
      guard,
      key: run.token,
      runId,
      agentId: 'billing-agent',
      accountSid,
      upstream: twilioUrl,
    }),
  };
}

function plainTwilio(accountSid: string, url: string): twilio.Twilio {
  const client = twilio(accountSid, TWILIO_TOKEN);
  client.api.baseUrl = url;
  return client;
}

/** A duplicate or an overspend in the spendguard column. */
export function violations(results: DemoRow[]): string[] {
  const out: string[] = [];
  for (const r of results) {
    const { extraObjects, overUsd } = overrun(r, r.with);
    if (extraObjects > 0)
      out.push(`${r.id}: ${r.with.objects} vendor objects, expected ${r.expectedObjects}`);
    if (overUsd > 0) out.push(`${r.id}: $${r.with.moneyMovedUsd} moved, at most $${r.maxMoneyUsd}`);
  }
  return out;
}

import { CliError } from '../cli-error.ts';
import { createOutput, usd } from '../output.ts';

/** One workload an agent framework runs: the same code with the plain SDK and with a governed one. */
interface Workload {
  id: string;
  title: string;
  /** What should happen: this many charges and at most this much money. */
  objects: number;
  maxUsd: number;
  run(stripe: import('stripe').Stripe): Promise<void>;
}

const attempt = async (call: () => Promise<unknown>) => {
  try {
    await call();
  } catch {
    // a framework hands the error to the model and goes on
  }
};

const WORKLOADS: Workload[] = [
  {
    id: 'F1',
    title: 'a step retried after its charge succeeded',
    objects: 1,
    maxUsd: 49.99,
    async run(stripe) {
      for (let i = 0; i < 2; i++) {
        await attempt(() =>
          stripe.charges.create({
            amount: 4999,
            currency: 'usd',
            source: 'tok_visa',
            metadata: { order: 'ord_1' },
          }),
        );
      }
    },
  },
  {
    id: 'F2',
    title: 'one model turn emits the same charge twice, in parallel',
    objects: 1,
    maxUsd: 80,
    async run(stripe) {
      const charge = () =>
        stripe.charges.create({
          amount: 8000,
          currency: 'usd',
          source: 'tok_visa',
          metadata: { order: 'ord_2' },
        });
      await Promise.all([attempt(charge), attempt(charge)]);
    },
  },
  {
    id: 'F7',
    title: 'a stuck loop of legal $15 charges into a $100 run cap',
    objects: 6,
    maxUsd: 90,
    async run(stripe) {
      for (let i = 0; i < 20; i++) {
        await attempt(() =>
          stripe.charges.create({
            amount: 1500,
            currency: 'usd',
            source: 'tok_visa',
            metadata: { order: `ord_7_${i}` },
          }),
        );
      }
    },
  },
  {
    id: 'F8',
    title: 'a $900 charge over the policy maximum of $500',
    objects: 0,
    maxUsd: 0,
    async run(stripe) {
      await attempt(() =>
        stripe.charges.create({
          amount: 90_000,
          currency: 'usd',
          source: 'tok_visa',
          metadata: { order: 'ord_8' },
        }),
      );
    },
  },
];

const SECRET = 'sk_test_spendguard_cli_demo_0123456789';
const SECRET_ENV = 'SPENDGUARD_CLI_DEMO_STRIPE_KEY';

/**
 * `spendguard demo`: each workload with the plain Stripe SDK and then through spendguard, against
 * the testkit's fake Stripe on loopback (no keys, no network, state in memory). Exit 1 if the
 * spendguard column shows a duplicate or an overspend.
 */
export default async function demo(options: { json?: boolean }) {
  const out = createOutput(options.json === true);
  const [{ createGuard, MemoryStore }, { createGovernedStripe }, { createFakeStripe }, { default: Stripe }] =
    await Promise.all([
      import('@spendguard/core'),
      import('@spendguard/core/stripe'),
      import('@spendguard/testkit'),
      import('stripe'),
    ]);
  process.env[SECRET_ENV] = SECRET;
  const fake = createFakeStripe({ secretKey: SECRET });
  const server = await fake.listen();
  const config = { host: '127.0.0.1', port: server.port, protocol: 'http' as const, maxNetworkRetries: 0 };
  const guard = createGuard({
    store: new MemoryStore(),
    policies: {
      policies: {
        'billing-agent': {
          stripe: { allow: [{ 'POST /v1/charges': { amount: { max: 50_000 }, currency: { in: ['usd'] } } }] },
          caps: { perRun: 100 },
        },
      },
      credentials: { stripe: { env: SECRET_ENV } },
    },
  });
  const charges = () => fake.ledger.list('charge').map((c) => Number(c.amount) / 100);
  const rows: {
    id: string;
    title: string;
    without: [number, number];
    with: [number, number];
    ok: boolean;
  }[] = [];
  try {
    const root = await guard.keys.issueRoot({ policy: 'billing-agent', name: 'demo' });
    for (const workload of WORKLOADS) {
      const moved = async (run: () => Promise<void>): Promise<[number, number]> => {
        const before = charges();
        await run();
        const made = charges().slice(before.length);
        return [made.length, made.reduce((a, b) => a + b, 0)];
      };
      const without = await moved(() => workload.run(new Stripe(SECRET, config)));
      const runKey = await guard.keys.derive(root.token, { runId: `demo-${workload.id}` });
      const governed = createGovernedStripe({ guard, key: runKey.token, config });
      const withGuard = await moved(() => workload.run(governed));
      const ok = withGuard[0] <= workload.objects && withGuard[1] <= workload.maxUsd + 1e-9;
      rows.push({ id: workload.id, title: workload.title, without, with: withGuard, ok });
    }
  } finally {
    await server.close();
    await guard.close();
  }
  out.result(rows, () => {
    out.line('spendguard demo: each workload without, then with spendguard, against a fake Stripe\n');
    out.table(
      ['', 'workload', 'without: charges', 'money', 'with spendguard: charges', 'money', 'verdict'],
      rows.map((r) => [
        r.id,
        r.title,
        r.without[0],
        usd(r.without[1]),
        r.with[0],
        usd(r.with[1]),
        r.ok ? 'ok' : 'DUPLICATE OR OVERSPEND',
      ]),
    );
  });
  if (rows.some((r) => !r.ok)) throw new CliError('the spendguard column shows a duplicate or an overspend');
}

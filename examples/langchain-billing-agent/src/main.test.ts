import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const dir = fileURLToPath(new URL('..', import.meta.url));

it('runs offline as `pnpm start` runs it: one charge per order, $900 refused, the retry replayed, $450 approved, the revoked thread stopped', async () => {
  const env = { ...process.env };
  for (const name of ['OPENAI_API_KEY', 'STRIPE_SECRET_KEY', 'NODE_OPTIONS']) delete env[name];
  const { stdout } = await run(process.execPath, ['--conditions=@spendguard/source', 'src/main.ts'], {
    cwd: dir,
    env,
  });
  expect(stdout).toContain('offline: fakeModel, fake Stripe');
  // Two parallel calls for order 1001, one charge; Bob's $900 refused by the policy.
  expect(stdout.match(/charge → succeeded (ch_\w+) 4999 cents/g)).toHaveLength(2);
  expect(stdout).toMatch(/refused \(param_not_allowed\): .*above the maximum 50000/);
  expect(stdout).toContain('Stripe saw 1 charges, $49.99 in all.');
  // The receipt failed after the charge; toolRetryMiddleware ran the tool again inside spendguard.
  expect(stdout).toContain("the retried attempt's Stripe call: replayed, not sent again");
  expect(stdout).toContain('Stripe saw 2 charges, $69.99 in all.');
  // $450 pauses with a humanInTheLoopMiddleware-shaped request, runs once when approved.
  expect(stdout).toMatch(
    /approval requested: charge\(.*"amountCents":45000.*\): spendguard: the policy wants/,
  );
  expect(stdout).toContain('Stripe saw 2 charges, $69.99 in all. Nothing runs until a human answers.');
  expect(stdout).toMatch(/POST \/v1\/charges +\$450\.00 .*\(approved by ops@example\.com \(console\)\)/);
  // The revoked thread: the run ends before the next model call, and stays stopped.
  expect(stdout).toMatch(/the run stopped: .*revoked.* \(model calls made: 7\)/);
  expect(stdout).toContain('the thread asked again: still stopped (model calls made: 7)');
  expect(stdout).toContain('Stripe saw 3 charges, $519.99 in all.');
  expect(stdout).toContain('audit chain verified: {"ok":true');
});

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BillingWorld } from './billing-world.ts';
import { ADAPTER_ROWS, playColumn, runIds } from './rows.ts';
import type { AdapterSurface } from './surface.ts';
import { verdict } from './table.ts';

/**
 * The adapter contract's behaviour table (F1–F4, F6–F8) for one framework, as vitest tests: each
 * row runs without spendguard (the duplicate or the overspend happens) and with it (it does not),
 * through the framework's real loop as `surface` drives it, each on a fresh guard and fake Stripe.
 */
export function describeAdapterBehaviour<Tools, Result>(
  name: string,
  surface: AdapterSurface<Tools, Result>,
): void {
  describe(`${name}: the adapter behaviour table`, () => {
    const world = new BillingWorld();
    const stamp = Date.now().toString(36);
    beforeAll(() => world.start());
    beforeEach(() => world.reset());
    afterAll(() => world.stop());

    for (const row of ADAPTER_ROWS) {
      const runId = runIds(name, row, stamp);
      describe(`${row.id}: ${row.title}`, () => {
        it('without spendguard: the duplicate or the overspend happens', async () => {
          const column = await playColumn(surface, row, world, false, runId);
          expect(verdict(row, column)).not.toBe('ok');
          row.checkWithout(column);
        });

        it('with spendguard: no duplicate, no overspend', async () => {
          const column = await playColumn(surface, row, world, true, runId);
          expect(column.objects).toBe(row.expectedObjects);
          expect(verdict(row, column)).toBe('ok');
          await row.checkWith(column, { world, runId });
        });
      });
    }
  });
}

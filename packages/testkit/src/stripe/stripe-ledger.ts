import type { RequestRecord } from '../engine.ts';
import type { FormParams } from '../form.ts';

/** A Stripe API object as the fake serves it (`id`, `object` and the resource's fields). */
export interface StripeObject {
  id: string;
  object: string;
  [field: string]: unknown;
}

/**
 * Money that moved at the fake Stripe. `charge`: a charge captured outside a PaymentIntent;
 * `payment_intent`: a PaymentIntent's charge captured; `invoice_payment`: an invoice paid by
 * card; `refund`: money sent back. Authorizations (uncaptured) and declines move nothing.
 */
export type MovementKind = 'charge' | 'payment_intent' | 'invoice_payment' | 'refund';

export interface MoneyMovement {
  kind: MovementKind;
  /** The charge, PaymentIntent, invoice or refund that moved it. */
  objectId: string;
  /** Positive, in the currency's minor units (cents; yen for JPY). */
  amount: number;
  /** Lowercase ISO code. */
  currency: string;
  at: number;
}

export type StripeRequestRecord = RequestRecord<FormParams | undefined>;

/** What happened at the fake Stripe, to assert on. */
export class StripeLedger {
  readonly #requests: StripeRequestRecord[] = [];
  readonly #objects = new Map<string, StripeObject>();
  readonly #movements: MoneyMovement[] = [];

  /** Every request seen, with its idempotency key and the status produced. */
  get requests(): readonly StripeRequestRecord[] {
    return this.#requests;
  }

  /** Every object by id, in its current state (a failed charge from a decline included). */
  get objects(): ReadonlyMap<string, StripeObject> {
    return this.#objects;
  }

  /** Every money movement, in order. */
  get movements(): readonly MoneyMovement[] {
    return this.#movements;
  }

  get(id: string): StripeObject | undefined {
    return this.#objects.get(id);
  }

  /** Objects of one type (`'charge'`, `'payment_intent'`, `'refund'`, `'customer'`, `'invoice'`). */
  list(object: string): StripeObject[] {
    return [...this.#objects.values()].filter((o) => o.object === object);
  }

  /** How many movements of a kind happened, e.g. `count('charge')`. */
  count(kind: MovementKind): number {
    return this.#movements.filter((m) => m.kind === kind).length;
  }

  /**
   * Net money taken from customers, in minor units: charges, PaymentIntents and invoice
   * payments, minus refunds. Without `currency` every movement must share one currency
   * (adding cents to yen means nothing), else this throws.
   */
  moneyMoved(currency?: string): number {
    let movements = this.#movements;
    if (currency === undefined) {
      const currencies = new Set(movements.map((m) => m.currency));
      if (currencies.size > 1) {
        throw new Error(`money moved in ${[...currencies].join(', ')}: pass the currency to sum`);
      }
    } else {
      const wanted = currency.toLowerCase();
      movements = movements.filter((m) => m.currency === wanted);
    }
    return movements.reduce((sum, m) => sum + (m.kind === 'refund' ? -m.amount : m.amount), 0);
  }

  /** @internal */
  recordRequest(record: StripeRequestRecord): void {
    this.#requests.push(record);
  }

  /** @internal */
  put(object: StripeObject): void {
    this.#objects.set(object.id, object);
  }

  /** @internal */
  move(movement: MoneyMovement): void {
    this.#movements.push(movement);
  }

  /** @internal */
  clear(): void {
    this.#requests.length = 0;
    this.#objects.clear();
    this.#movements.length = 0;
  }
}

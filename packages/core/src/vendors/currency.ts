/** Currencies whose amounts Stripe writes without minor units (1 JPY is `1`). */
const ZERO_DECIMAL = new Set([
  'bif',
  'clp',
  'djf',
  'gnf',
  'jpy',
  'kmf',
  'krw',
  'mga',
  'pyg',
  'rwf',
  'ugx',
  'vnd',
  'vuv',
  'xaf',
  'xof',
  'xpf',
]);
/** Currencies with three decimals (1 KWD is `1000`). */
const THREE_DECIMAL = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);

/** Major units of an amount written in the currency's minor units. */
export function minorToMajor(amount: number, currency: string): number {
  const code = currency.toLowerCase();
  if (ZERO_DECIMAL.has(code)) return amount;
  if (THREE_DECIMAL.has(code)) return amount / 1000;
  return amount / 100;
}

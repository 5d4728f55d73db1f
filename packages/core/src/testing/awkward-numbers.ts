/**
 * Amounts whose text is hard to print exactly as JavaScript does (shortest round-trip digits,
 * exponents, the smallest double, binary fractions, a negative, null): what a port of core's
 * rules to another language (Lua, PL/pgSQL) must write into audit rows byte for byte.
 */
export const AWKWARD_NUMBERS: readonly (number | null)[] = [
  0,
  0.0079,
  86.95,
  0.1 + 0.2,
  1e21,
  5e-324,
  1.23456e-8,
  2 ** 53 + 2,
  1 / 3,
  -12.5,
  321.95,
  null,
];

/**
 * Decode an `application/x-www-form-urlencoded` body the way Stripe and Twilio read it:
 * `metadata[order_id]=1` → `{ metadata: { order_id: '1' } }`, `expand[]=a&expand[]=b` →
 * `{ expand: ['a', 'b'] }`, `items[0][price]=p` → `{ items: [{ price: 'p' }] }`.
 * Values stay strings, as they were sent; policy rules compare numeric strings as numbers.
 */
export function decodeFormParams(body: string | URLSearchParams): Record<string, unknown> {
  const params = typeof body === 'string' ? new URLSearchParams(body) : body;
  const root: Container = {};
  for (const [name, value] of params) {
    const path = parseName(name);
    let node: Container = root;
    for (let i = 0; i < path.length - 1; i++) {
      node = child(node, path[i] as string, /^\d*$/.test(path[i + 1] as string));
    }
    set(node, path.at(-1) as string, value);
  }
  return root as Record<string, unknown>;
}

type Container = Record<string, unknown> | unknown[];

/** `[]` appends to an array; a number indexes it; anything else names a member. */
function slot(node: Container, part: string): string | number {
  return Array.isArray(node) ? (part === '' ? node.length : Number(part)) : part;
}

function set(node: Container, part: string, value: unknown): void {
  (node as Record<string | number, unknown>)[slot(node, part)] = value;
}

function child(node: Container, part: string, isArray: boolean): Container {
  const key = slot(node, part);
  const record = node as Record<string | number, unknown>;
  const existing = record[key];
  if (existing !== null && typeof existing === 'object') return existing as Container;
  const created: Container = isArray ? [] : {};
  record[key] = created;
  return created;
}

/** `a[b][0][]` → `['a', 'b', '0', '']`. */
function parseName(name: string): string[] {
  const open = name.indexOf('[');
  if (open <= 0) return [name];
  const parts = [name.slice(0, open)];
  for (const match of name.slice(open).matchAll(/\[([^\]]*)\]/g)) parts.push(match[1] as string);
  return parts;
}

/**
 * Decode an `application/x-www-form-urlencoded` body the way Stripe and Twilio read it:
 * `metadata[order_id]=1` → `{ metadata: { order_id: '1' } }`, `expand[]=a&expand[]=b` →
 * `{ expand: ['a', 'b'] }`, `items[0][price]=p` → `{ items: [{ price: 'p' }] }`.
 * Values stay strings, as they were sent; policy rules compare numeric strings as numbers.
 */
export function decodeFormParams(body: string | URLSearchParams): Record<string, unknown> {
  const params = typeof body === 'string' ? new URLSearchParams(body) : body;
  const root: Record<string, unknown> = {};
  for (const [name, value] of params) {
    const path = parseName(name);
    let node: Record<string, unknown> | unknown[] = root;
    for (let i = 0; i < path.length; i++) {
      const part = path[i] as string;
      const last = i === path.length - 1;
      const nextIsIndex = !last && /^\d*$/.test(path[i + 1] as string);
      if (Array.isArray(node)) {
        const index = part === '' ? node.length : Number(part);
        if (last) node[index] = value;
        else node = (node[index] ??= nextIsIndex ? [] : {}) as Record<string, unknown> | unknown[];
      } else if (last) {
        node[part] = value;
      } else {
        node = (node[part] ??= nextIsIndex ? [] : {}) as Record<string, unknown> | unknown[];
      }
    }
  }
  return root;
}

/** `a[b][0][]` → `['a', 'b', '0', '']`. */
function parseName(name: string): string[] {
  const open = name.indexOf('[');
  if (open <= 0) return [name];
  const parts = [name.slice(0, open)];
  for (const match of name.slice(open).matchAll(/\[([^\]]*)\]/g)) parts.push(match[1] as string);
  return parts;
}

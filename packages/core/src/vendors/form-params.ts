import { RequestInvalidError } from '../errors.ts';
import { checkBodySize, INPUT_LIMITS, isReservedKey } from '../untrusted-input.ts';

export interface FormDecodeOptions {
  /**
   * A name given more than once (`a=1&a=2`): `array` keeps every value in order (Twilio's
   * `MediaUrl`), `refuse` refuses the body (Stripe reads only one of them, and a policy check
   * must see what the vendor sees). Names ending in `[]` always append. Default: `array`.
   */
  duplicates?: 'array' | 'refuse';
}

/** A list while it is being built: items by index, turned into a dense array at the end. */
class ListBuilder {
  readonly items = new Map<number, unknown>();
  next = 0;
}

type Node = Record<string, unknown> | ListBuilder;

/**
 * Decode an `application/x-www-form-urlencoded` body (or query) the way Stripe and Twilio read
 * it: `metadata[order_id]=1` → `{ metadata: { order_id: '1' } }`, `expand[]=a&expand[]=b` →
 * `{ expand: ['a', 'b'] }`, `items[0][price]=p` → `{ items: [{ price: 'p' }] }` (indices give
 * the order). Values stay strings, as they were sent. Objects have a null prototype.
 *
 * The body is untrusted, and is refused with RequestInvalidError naming the param when it is
 * past INPUT_LIMITS (size, params, depth, a bracket index above 99, a list above 100 items), when
 * a name is not well-formed bracket notation or any part of it is `__proto__`, `constructor` or
 * `prototype`, or when one name is used both for a value and for a group. One pass, linear in
 * the body's size.
 */
export function decodeFormParams(
  body: string | URLSearchParams,
  options: FormDecodeOptions = {},
): Record<string, unknown> {
  const text = typeof body === 'string' ? body : body.toString();
  checkBodySize(text);
  // split's limit stops early, so a body of a million `&` costs no more than one of a thousand.
  const pieces = text.split('&', INPUT_LIMITS.maxParams + 1);
  if (pieces.length > INPUT_LIMITS.maxParams) {
    throw new RequestInvalidError(
      `the body has more than ${INPUT_LIMITS.maxParams} params, the most spendguard decodes`,
    );
  }
  const refuseDuplicates = options.duplicates === 'refuse';
  const root: Record<string, unknown> = Object.create(null);
  for (const piece of pieces) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const name = decodeComponent(eq === -1 ? piece : piece.slice(0, eq));
    const value = eq === -1 ? '' : decodeComponent(piece.slice(eq + 1));
    const parts = nameParts(name);
    let node: Node = root;
    for (let i = 0; i < parts.length - 1; i++) {
      node = child(node, parts[i] as string, isIndexPart(parts[i + 1] as string), name);
    }
    put(node, parts.at(-1) as string, value, name, refuseDuplicates);
  }
  return finish(root) as Record<string, unknown>;
}

/** Percent-decoding as forms do (`+` is a space); a malformed escape is kept as written. */
function decodeComponent(text: string): string {
  const spaced = text.includes('+') ? plusToSpace(text) : text;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

/**
 * `+` → space over UTF-8 bytes (0x2B never occurs inside a multi-byte sequence): a string
 * replace of a million `+` takes over 100 ms here, this takes about 15.
 */
function plusToSpace(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x2b) bytes[i] = 0x20;
  return bytes.toString('utf8');
}

/**
 * The parts of a param name in bracket notation as Stripe's SDKs write it (`name`, `name[a]`,
 * `name[a][0]`, `name[]`): `a[b][]` → `['a', 'b', '']`. Refuses a malformed name, a reserved
 * part and an index past the bound, and stops at the depth bound, so a name of a million
 * brackets costs no more than a short one.
 */
function nameParts(name: string): string[] {
  const open = name.indexOf('[');
  const root = open === -1 ? name : name.slice(0, open);
  if (root === '' || root.includes(']')) throw malformed(name);
  const parts = [root];
  let at = open;
  while (at !== -1 && at < name.length) {
    if (name[at] !== '[') throw malformed(name);
    const close = name.indexOf(']', at + 1);
    if (close === -1) throw malformed(name);
    const part = name.slice(at + 1, close);
    if (part.includes('[')) throw malformed(name);
    parts.push(part);
    if (parts.length - 1 > INPUT_LIMITS.maxDepth) {
      throw new RequestInvalidError(
        `param ${shown(name)} is nested deeper than ${INPUT_LIMITS.maxDepth} levels, the most spendguard decodes`,
        shown(name),
      );
    }
    at = close + 1;
  }
  for (const [i, part] of parts.entries()) {
    if (isReservedKey(part)) {
      throw new RequestInvalidError(
        `param ${shown(name)} uses the reserved name "${part}", which could reach an object's prototype`,
        shown(name),
      );
    }
    if (i > 0 && /^\d+$/.test(part)) {
      if (part.length > 3 || Number(part) >= INPUT_LIMITS.maxFormArrayItems) {
        throw new RequestInvalidError(
          `param ${shown(name)}: index ${shown(part)} is above ${INPUT_LIMITS.maxFormArrayItems - 1}, the largest spendguard decodes`,
          shown(name),
        );
      }
    }
  }
  return parts;
}

/** `[]` appends; `[0]`…`[99]` index. */
function isIndexPart(part: string): boolean {
  return part === '' || /^\d+$/.test(part);
}

function slotOf(list: ListBuilder, part: string, name: string): number {
  if (!isIndexPart(part)) {
    throw new RequestInvalidError(
      `param ${shown(name)} names an item of a list: lists are indexed by number`,
      shown(name),
    );
  }
  const slot = part === '' ? list.next : Number(part);
  if (slot >= INPUT_LIMITS.maxFormArrayItems) {
    throw new RequestInvalidError(
      `param ${shown(name)} has more than ${INPUT_LIMITS.maxFormArrayItems} items, the most spendguard decodes`,
      shown(name),
    );
  }
  list.next = Math.max(list.next, slot + 1);
  return slot;
}

function child(node: Node, part: string, asList: boolean, name: string): Node {
  const created = (): Node => (asList ? new ListBuilder() : Object.create(null));
  if (node instanceof ListBuilder) {
    const slot = slotOf(node, part, name);
    const existing = node.items.get(slot);
    if (existing === undefined) {
      const made = created();
      node.items.set(slot, made);
      return made;
    }
    if (typeof existing === 'object') return existing as Node;
    throw mixed(name);
  }
  const existing = node[part];
  if (existing === undefined) {
    const made = created();
    node[part] = made;
    return made;
  }
  if (typeof existing === 'object') return existing as Node;
  throw mixed(name);
}

function put(node: Node, part: string, value: string, name: string, refuseDuplicates: boolean): void {
  if (node instanceof ListBuilder) {
    const slot = slotOf(node, part, name);
    if (node.items.has(slot)) throw duplicate(name);
    node.items.set(slot, value);
    return;
  }
  const existing = node[part];
  if (existing === undefined) {
    node[part] = value;
    return;
  }
  if (typeof existing === 'object') throw mixed(name);
  if (refuseDuplicates) throw duplicate(name);
  // A repeated name: a list of its values in order (Twilio's MediaUrl).
  const list = new ListBuilder();
  slotOf(list, '', name);
  list.items.set(0, existing);
  node[part] = list;
  list.items.set(slotOf(list, '', name), value);
}

/** Lists become dense arrays ordered by index; objects keep their null prototype. */
function finish(node: unknown): unknown {
  if (node instanceof ListBuilder) {
    return [...node.items.entries()].sort((a, b) => a[0] - b[0]).map(([, item]) => finish(item));
  }
  if (node !== null && typeof node === 'object') {
    const record = node as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = finish(record[key]);
  }
  return node;
}

/** A param name as messages show it: long names are cut, so an error stays one short sentence. */
function shown(name: string): string {
  return name.length > 80 ? `${name.slice(0, 80)}…` : name;
}

function malformed(name: string): RequestInvalidError {
  return new RequestInvalidError(
    `param name ${JSON.stringify(shown(name))} is not well-formed bracket notation`,
    shown(name),
  );
}

function mixed(name: string): RequestInvalidError {
  return new RequestInvalidError(
    `param ${shown(name)} uses one name both for a value and for a group of values`,
    shown(name),
  );
}

function duplicate(name: string): RequestInvalidError {
  return new RequestInvalidError(
    `param ${shown(name)} is given more than once; the vendor would read only one of them`,
    shown(name),
  );
}

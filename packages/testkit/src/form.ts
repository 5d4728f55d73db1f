/** A form value: a string, or nested objects and arrays built from bracket notation. */
export type FormValue = string | FormValue[] | FormParams;
export interface FormParams {
  [key: string]: FormValue;
}

/**
 * Parses a form-encoded body (or query string) the way Stripe reads it: `metadata[order_id]=x`
 * is an object, `expand[]=a` and `expand[0]=a` are arrays, `a[b][c]=x` nests. A key repeated
 * without brackets keeps its last value.
 */
export function parseForm(input: string | URLSearchParams): FormParams {
  const root: FormParams = {};
  const pairs = typeof input === 'string' ? new URLSearchParams(input) : input;
  for (const [rawKey, value] of pairs) {
    const open = rawKey.indexOf('[');
    if (open <= 0) {
      root[rawKey] = value;
      continue;
    }
    const segments = [rawKey.slice(0, open)];
    for (const match of rawKey.slice(open).matchAll(/\[([^\]]*)\]/g)) segments.push(match[1] ?? '');
    assign(root, segments, value);
  }
  return root;
}

function assign(root: FormParams, segments: string[], value: string): void {
  let container: FormParams | FormValue[] = root;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    const last = i === segments.length - 1;
    const next = segments[i + 1];
    const makeChild = (): FormParams | FormValue[] => (next === '' || /^\d+$/.test(next ?? '') ? [] : {});
    if (Array.isArray(container)) {
      const index: number = segment === '' ? container.length : Number(segment);
      if (!Number.isInteger(index) || index < 0) return;
      if (last) {
        container[index] = value;
        return;
      }
      let child: FormValue | undefined = container[index];
      if (child === undefined || typeof child === 'string') {
        child = makeChild();
        container[index] = child;
      }
      container = child;
    } else {
      if (last) {
        container[segment] = value;
        return;
      }
      let child: FormValue | undefined = container[segment];
      if (child === undefined || typeof child === 'string') {
        child = makeChild();
        container[segment] = child;
      }
      container = child;
    }
  }
}

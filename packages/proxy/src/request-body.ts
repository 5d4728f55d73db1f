import { readBoundedBody } from '@spendguard/core';
/**
 * The request body, read up to `limit` bytes: `undefined` when it is larger (by its
 * `content-length`, before reading anything, or once the bytes read pass the limit). Reading
 * stops there; the rest is never buffered. `read`: the bytes the server read already (up to one
 * past the limit), used instead of the request's stream.
 */
export async function readBody(
  request: Request,
  limit: number,
  read?: Uint8Array,
): Promise<Uint8Array | undefined> {
  const declared = Number(request.headers.get('content-length') ?? 0);
  if (declared > limit) return undefined;
  if (read !== undefined) return read.byteLength > limit ? undefined : read;
  return readBoundedBody(request.body, limit);
}

/** The bytes of every header name and value, with the `: ` and line end of each. */
export function headerBytes(headers: Headers): number {
  let bytes = 0;
  for (const [name, value] of headers) bytes += name.length + value.length + 4;
  return bytes;
}

/**
 * A body's bytes, read up to `limit`: `undefined` once more arrive. Reading stops there and the
 * stream is cancelled, so the rest is never buffered. A null body is empty. For the front ends
 * that read what any process may send (the proxy, the admin API, the MCP gateway).
 */
export async function readBoundedBody(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<Uint8Array | undefined> {
  if (!body) return new Uint8Array();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

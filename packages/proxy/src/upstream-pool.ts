import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { Agent } from 'undici';

/** A `fetch` that reaches the vendors, and a way to close its connections. */
export interface UpstreamPool {
  fetch: typeof fetch;
  close(): Promise<void>;
}

/** A decoded answer larger than this is refused rather than held: a small body can inflate without bound. */
const MAX_DECODED_BYTES = 64 * 1024 * 1024;

/**
 * The encodings undone before an answer is stored and replayed. A Map, not an object literal: the
 * name comes from the vendor's `content-encoding` header, and `__proto__` must not find anything.
 */
const DECODERS = new Map<string, (bytes: Uint8Array) => Uint8Array>([
  ['gzip', (bytes) => gunzipSync(bytes, { maxOutputLength: MAX_DECODED_BYTES })],
  ['x-gzip', (bytes) => gunzipSync(bytes, { maxOutputLength: MAX_DECODED_BYTES })],
  ['deflate', (bytes) => inflateSync(bytes, { maxOutputLength: MAX_DECODED_BYTES })],
  ['br', (bytes) => brotliDecompressSync(bytes, { maxOutputLength: MAX_DECODED_BYTES })],
]);

/** Answers of the pool: their body was read in full before they were returned. */
const buffered = new WeakSet<Response>();

/** Whether the pool read this answer's body in full already (so nothing of it can stall). */
export function isBuffered(response: Response): boolean {
  return buffered.has(response);
}

/**
 * The default way to the vendors: one undici Agent, which keeps a pool of keep-alive connections
 * per origin (no new TLS handshake per call), driven through its dispatcher API rather than
 * undici's WHATWG `fetch`: the same exchange at about a third of the CPU (the spec's fetch
 * algorithm is many promise layers deep). It still looks like `fetch` to the guard: a URL or a
 * Request and an init in, a `Response` out, its body read in full (the proxy reads it anyway, to
 * redact and store it) and decoded when the vendor compressed it.
 */
export function createUpstreamPool(): UpstreamPool {
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 256 });
  const send = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const request = input instanceof Request ? input : undefined;
    const url = new URL(request ? request.url : input instanceof URL ? input.href : input);
    // Headers the guard built are read as they are; anything else is normalised first.
    const given = init.headers ?? request?.headers;
    const headers = given instanceof Headers ? given : new Headers(given);
    const body =
      init.body !== undefined && init.body !== null
        ? await bytesOf(init.body)
        : request?.body
          ? new Uint8Array(await request.arrayBuffer())
          : undefined;
    const flat: string[] = [];
    for (const [name, value] of headers) flat.push(name, value);
    const answer = await agent.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: (init.method ?? request?.method ?? 'GET') as 'GET',
      headers: flat,
      ...(body !== undefined && { body }),
      signal: init.signal ?? request?.signal ?? undefined,
    });
    let bytes: Uint8Array = new Uint8Array(await answer.body.arrayBuffer());
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      if (Array.isArray(value)) for (const item of value) responseHeaders.append(name, item);
      else if (value !== undefined) responseHeaders.append(name, value);
    }
    const encoding = responseHeaders.get('content-encoding')?.trim().toLowerCase();
    const decode = encoding === undefined ? undefined : DECODERS.get(encoding);
    if (decode && bytes.byteLength > 0) {
      bytes = decode(bytes);
      responseHeaders.delete('content-encoding');
      responseHeaders.delete('content-length');
    }
    const empty = bytes.byteLength === 0 || answer.statusCode === 204 || answer.statusCode === 304;
    const response = new Response(empty ? null : bytes, {
      status: answer.statusCode,
      statusText: answer.statusText ?? '',
      headers: responseHeaders,
    });
    buffered.add(response);
    return response;
  };
  return { fetch: send as typeof fetch, close: () => agent.close() };
}

/** A request body's bytes: text and bytes directly (what the guard sends), anything else as fetch reads it. */
async function bytesOf(body: NonNullable<RequestInit['body']>): Promise<Uint8Array> {
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  return new Uint8Array(await new Response(body).arrayBuffer());
}

import { describe, expect, it } from 'vitest';
import { headerBytes, readBody } from './request-body.ts';

const post = (body: RequestInit['body'], headers: Record<string, string> = {}) =>
  new Request('http://proxy.test/', { method: 'POST', body, headers, duplex: 'half' } as RequestInit);

describe('readBody', () => {
  it('reads a body up to the limit, and an absent one as empty', async () => {
    expect(Buffer.from((await readBody(post('a'.repeat(10)), 10)) ?? []).toString()).toBe('a'.repeat(10));
    expect(await readBody(new Request('http://proxy.test/', { method: 'DELETE' }), 10)).toEqual(
      new Uint8Array(),
    );
  });

  it('refuses by content-length before reading, and by the bytes read when there is none', async () => {
    let pulled = false;
    const unread = new ReadableStream(
      {
        pull() {
          pulled = true;
        },
      },
      { highWaterMark: 0 }, // pulled only when read
    );
    expect(await readBody(post(unread, { 'content-length': '11' }), 10)).toBeUndefined();
    expect(pulled).toBe(false);
    expect(await readBody(post('é'.repeat(6)), 10)).toBeUndefined(); // 12 bytes in UTF-8
  });
});

describe('headerBytes', () => {
  it('counts names, values and their separators', () => {
    expect(headerBytes(new Headers({ ab: 'cde' }))).toBe(2 + 3 + 4);
  });
});

import fc from 'fast-check';
import { expect, it } from 'vitest';
import { readBoundedBody } from './bounded-body.ts';

function streamOf(chunks: Uint8Array[], pulled: { count: number }): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled.count++;
      const chunk = chunks[i++];
      if (chunk) controller.enqueue(chunk);
      else controller.close();
    },
  });
}

it('returns the bytes up to the limit, and stops reading once past it (property)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }),
      fc.integer({ min: 0, max: 600 }),
      async (chunks, limit) => {
        const pulled = { count: 0 };
        const total = chunks.reduce((n, c) => n + c.byteLength, 0);
        const bytes = await readBoundedBody(streamOf(chunks, pulled), limit);
        if (total <= limit) {
          expect(bytes && Buffer.from(bytes)).toEqual(Buffer.concat(chunks));
        } else {
          expect(bytes).toBeUndefined();
          // The chunk that crossed the limit was the last one read.
          let seen = 0;
          let needed = 0;
          while (seen <= limit) seen += (chunks[needed++] as Uint8Array).byteLength;
          expect(pulled.count).toBeLessThanOrEqual(needed + 1);
        }
      },
    ),
  );
});

it('reads a null body as empty', async () => {
  expect(await readBoundedBody(null, 0)).toEqual(new Uint8Array());
});

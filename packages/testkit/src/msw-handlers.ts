import { createRequire } from 'node:module';
import type { HttpHandler } from 'msw';
import type { Handle } from './engine.ts';
import { sleep } from './sleep.ts';

type Msw = typeof import('msw');

let msw: Msw | undefined;

// msw is an optional peer dependency: load it only when someone asks for handlers, so the
// real-server half of the testkit works without it. Node >= 22.12 can require() ES modules.
function loadMsw(): Msw {
  if (msw) return msw;
  try {
    msw = createRequire(import.meta.url)('msw') as Msw;
    return msw;
  } catch (error) {
    throw new Error('@spendguard/testkit: `handlers` needs msw ^3 installed (pnpm add -D msw)', {
      cause: error,
    });
  }
}

/** msw handlers answering every request to `origin` (e.g. `https://api.stripe.com`) with `handle`. */
export function mswHandlers(origin: string, handle: Handle): HttpHandler[] {
  const { http, HttpResponse } = loadMsw();
  return [
    http.all(`${origin}/*`, async ({ request }) => {
      const url = new URL(request.url);
      const outcome = await handle(
        {
          method: request.method.toUpperCase(),
          path: url.pathname,
          query: url.searchParams,
          headers: request.headers,
          body: await request.text(),
        },
        request.signal,
      );
      if (outcome.type === 'reset') return HttpResponse.error();
      if (outcome.delayMs > 0 && !(await sleep(outcome.delayMs, request.signal))) {
        return HttpResponse.error();
      }
      const { status, headers, body } = outcome.response;
      return new HttpResponse(body, { status, headers });
    }),
  ];
}

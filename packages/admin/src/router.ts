import type { Guard } from '@spendguard/core';
import { AdminError } from './admin-error.ts';

/** What a route's handler gets: the request, its URL, the path's `:name` parts, the guard. */
export interface RouteContext {
  request: Request;
  url: URL;
  params: Record<string, string>;
  guard: Guard;
  now: () => number;
}

export interface Route {
  method: 'GET' | 'POST';
  /** Segments; `:name` matches one segment into `params.name`. */
  path: string;
  handle(context: RouteContext): Promise<Response>;
}

/** The route for a method and path; 404 when no path matches, 405 when only the method does not. */
export function matchRoute(
  routes: readonly Route[],
  method: string,
  pathname: string,
): { route: Route; params: Record<string, string> } {
  const segments = pathname.split('/');
  let pathMatched = false;
  for (const route of routes) {
    const params = matchPath(route.path.split('/'), segments);
    if (!params) continue;
    pathMatched = true;
    if (route.method === method) return { route, params };
  }
  if (pathMatched) throw new AdminError(405, 'method_not_allowed', `${method} is not allowed on ${pathname}`);
  throw new AdminError(404, 'not_found', `no admin endpoint at ${pathname}`);
}

function matchPath(pattern: string[], segments: string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = Object.create(null);
  for (const [i, part] of pattern.entries()) {
    const segment = segments[i] as string;
    if (part.startsWith(':')) {
      let value: string;
      try {
        value = decodeURIComponent(segment);
      } catch {
        return undefined;
      }
      if (value === '' || value.length > 200) return undefined;
      params[part.slice(1)] = value;
    } else if (part !== segment) return undefined;
  }
  return params;
}

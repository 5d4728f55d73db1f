import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A console session: who signed in (the name they gave, for the audit rows) and its CSRF token. */
export interface ConsoleSession {
  /** Recorded as `console: <name>` with every decision made in this session. */
  name: string;
  /** Sent back by the page in `x-csrf-token` on every state-changing request. */
  csrf: string;
  createdAt: number;
  seenAt: number;
}

/** A session lasts at most this long, and ends sooner after this long unused. */
export const SESSION_MAX_MS = 12 * 60 * 60_000;
export const SESSION_IDLE_MS = 2 * 60 * 60_000;
/** The most sessions kept; signing in past it ends the oldest. */
const MAX_SESSIONS = 1000;

/**
 * Console sessions, in memory (a restart signs everyone out). The cookie holds a random id; the
 * map is keyed by its SHA-256, so a heap dump holds no usable cookie.
 */
export class SessionStore {
  readonly #sessions = new Map<string, ConsoleSession>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A new session; returns the cookie value (shown to nobody but the browser, HttpOnly). */
  create(name: string): { id: string; session: ConsoleSession } {
    const now = this.#now();
    if (this.#sessions.size >= MAX_SESSIONS) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    const session = { name, csrf: randomBytes(32).toString('base64url'), createdAt: now, seenAt: now };
    this.#sessions.set(digest(id), session);
    return { id, session };
  }

  /** The live session for a cookie value, or undefined (expired ones are dropped). */
  get(id: string | undefined): ConsoleSession | undefined {
    if (!id || id.length > 100) return undefined;
    const key = digest(id);
    const session = this.#sessions.get(key);
    if (!session) return undefined;
    const now = this.#now();
    if (now - session.createdAt > SESSION_MAX_MS || now - session.seenAt > SESSION_IDLE_MS) {
      this.#sessions.delete(key);
      return undefined;
    }
    session.seenAt = now;
    return session;
  }

  delete(id: string | undefined): void {
    if (id) this.#sessions.delete(digest(id));
  }
}

/** Whether the presented CSRF token is the session's, compared in constant time. */
export function csrfMatches(session: ConsoleSession, presented: string | null): boolean {
  const a = createHash('sha256')
    .update(presented ?? '')
    .digest();
  const b = createHash('sha256').update(session.csrf).digest();
  return timingSafeEqual(a, b) && presented !== null;
}

function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/** One cookie's value from a `Cookie` header. */
export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

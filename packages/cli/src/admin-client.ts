import { CliError } from './cli-error.ts';

/** One request to the admin API: a real one over HTTP, or the in-process API on a store. */
export type AdminFetch = (request: Request) => Promise<Response>;

/** The admin API as the commands use it: JSON in and out, an API error thrown as a CliError. */
export class AdminClient {
  readonly #fetch: AdminFetch;
  readonly #base: string;
  readonly #token: string;
  readonly #close: () => Promise<void>;

  constructor(fetch: AdminFetch, base: string, token: string, close: () => Promise<void> = async () => {}) {
    this.#fetch = fetch;
    this.#base = base.replace(/\/+$/, '');
    this.#token = token;
    this.#close = close;
  }

  /** The raw response (for streams): an error status is thrown as a CliError. */
  async request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Response> {
    let response: Response;
    try {
      response = await this.#fetch(
        new Request(`${this.#base}${path}`, {
          method,
          headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json' },
          ...(body !== undefined && { body: JSON.stringify(body) }),
        }),
      );
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new CliError(`cannot reach the admin API at ${this.#base} (${cause})`, { code: 'unreachable' });
    }
    if (response.ok) return response;
    const payload = (await response.json().catch(() => undefined)) as
      | { error?: { code?: string; message?: string } }
      | undefined;
    const code = payload?.error?.code ?? `http_${response.status}`;
    const message =
      response.status === 401
        ? 'the admin API refused the admin token (set SPENDGUARD_ADMIN_TOKEN to the token the server was started with)'
        : (payload?.error?.message ?? `the admin API answered ${response.status}`);
    throw new CliError(message, { code });
  }

  async get<T>(path: string): Promise<T> {
    return (await (await this.request('GET', path)).json()) as T;
  }

  async post<T>(path: string, body: unknown = {}): Promise<T> {
    return (await (await this.request('POST', path, body)).json()) as T;
  }

  close(): Promise<void> {
    return this.#close();
  }
}

/** A query string from the options given (undefined ones left out). */
export function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params))
    if (value !== undefined) search.set(name, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}

import { readBoundedBody } from '@spendguard/core';
import { z } from 'zod';
import { AdminError } from './admin-error.ts';

/** The most rows or records one listing returns; export streams past it. */
export const MAX_PAGE = 1000;
/** The largest JSON body the admin API reads. */
export const BODY_LIMIT_BYTES = 64 * 1024;

const DECISIONS = ['executed', 'replayed', 'needs_approval', 'denied', 'failed', 'approved'] as const;

const id = z.string().min(1).max(200);
const count = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const limit = z.coerce.number().int().min(1).max(MAX_PAGE);
/** A time as epoch milliseconds or an ISO 8601 date. */
const time = z.string().transform((value, ctx) => {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms)) {
    ctx.addIssue({ code: 'custom', message: 'must be epoch milliseconds or an ISO 8601 date' });
    return z.NEVER;
  }
  return ms;
});

export const auditFilters = z.strictObject({
  key: id.optional(),
  root: id.optional(),
  run: id.optional(),
  decision: z
    .string()
    .transform((v) => v.split(','))
    .pipe(z.array(z.enum(DECISIONS)))
    .optional(),
  code: id.optional(),
  vendor: id.optional(),
  from: time.optional(),
  to: time.optional(),
  after: count.optional(),
  before: count.optional(),
  limit: limit.optional(),
});
export type AuditFilters = z.infer<typeof auditFilters>;

export const keyFilters = z.strictObject({
  root: id.optional(),
  parent: id.optional(),
  run: id.optional(),
  state: z.enum(['active', 'revoked', 'expired']).optional(),
  after: id.optional(),
  limit: limit.optional(),
});

export const listFilters = z.strictObject({ limit: limit.optional() });
export const approvalFilters = z.strictObject({
  state: z.enum(['pending', 'approved', 'denied']).optional(),
  limit: limit.optional(),
});

const ttl = z.union([z.string().min(1).max(40), z.number().int().positive()]);
export const issueBody = z.strictObject({ policy: id, name: id.optional(), ttl: ttl.optional() });
export const deriveBody = z.strictObject({
  parentToken: z.string().min(1).max(200),
  runId: id.optional(),
  name: id.optional(),
  ttl: ttl.optional(),
  caps: z
    .strictObject({
      perCall: z.number().positive().optional(),
      perRun: z.number().positive().optional(),
      perKey: z.number().positive().optional(),
      perHour: z.number().positive().optional(),
      perDay: z.number().positive().optional(),
    })
    .optional(),
  ratePerMinute: z.number().int().positive().optional(),
});
export const verdictBody = z.strictObject({ by: id.optional(), reason: z.string().max(2000).optional() });
export const reconcileBody = z.strictObject({
  outcome: z.enum(['executed', 'failed']),
  costUsd: z.number().nonnegative().finite().optional(),
  objectId: id.optional(),
  by: id.optional(),
});

/** The query string, validated: an unknown or repeated parameter is refused, naming it. */
export function parseQuery<T extends z.ZodType>(url: URL, schema: T): z.infer<T> {
  const params: Record<string, string> = Object.create(null);
  for (const [name, value] of url.searchParams) {
    if (name in params) throw new AdminError(400, 'request_invalid', `query parameter ${name} is repeated`);
    params[name] = value;
  }
  return check(schema, { ...params }, 'query parameter');
}

/** The JSON body, read up to the limit and validated. An empty body counts as `{}`. */
export async function parseBody<T extends z.ZodType>(request: Request, schema: T): Promise<z.infer<T>> {
  const declared = Number(request.headers.get('content-length') ?? 0);
  if (declared > BODY_LIMIT_BYTES) throw tooLarge();
  const text = await readLimited(request);
  let value: unknown = {};
  if (text.trim() !== '') {
    try {
      value = JSON.parse(text);
    } catch {
      throw new AdminError(400, 'request_invalid', 'the body is not JSON');
    }
  }
  return check(schema, value, 'body field');
}

function check<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.join('.') ?? '';
  const unknown = issue?.code === 'unrecognized_keys' ? ` ${issue.keys.join(', ')}` : '';
  const where = path ? `${what} ${path}` : unknown ? `unknown ${what}${unknown}` : `the ${what}s`;
  throw new AdminError(400, 'request_invalid', `${where}: ${unknown ? 'not recognised' : issue?.message}`);
}

async function readLimited(request: Request): Promise<string> {
  const bytes = await readBoundedBody(request.body, BODY_LIMIT_BYTES);
  if (!bytes) throw tooLarge();
  return Buffer.from(bytes).toString('utf8');
}

function tooLarge(): AdminError {
  return new AdminError(413, 'request_invalid', `the body is larger than ${BODY_LIMIT_BYTES} bytes`);
}

/** W3C Trace Context: version, trace id, parent id, flags. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;
/** A request id we record: short and plain. Anything else is passed upstream but not recorded. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The id that ties a request to the agent's trace, for the audit row: the trace id of a valid
 * `traceparent`, else a plain `x-request-id`. Both headers are untrusted: an id that could carry
 * a secret (`isSecret`: the guard's redactor finds one in it) or a vault token is not recorded.
 */
export function traceIdOf(headers: Headers, isSecret: (text: string) => boolean): string | undefined {
  const parent = TRACEPARENT.exec(headers.get('traceparent')?.trim() ?? '');
  if (parent && parent[1] !== 'ff' && !/^0+$/.test(parent[2] as string)) return parent[2];
  const requestId = headers.get('x-request-id')?.trim();
  if (requestId === undefined || !REQUEST_ID.test(requestId)) return undefined;
  return isSecret(requestId) ? undefined : requestId;
}

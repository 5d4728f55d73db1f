import { type Attribution, type Operation, operationName } from '../operation.ts';
import type { AuditEntry } from '../store.ts';

/** An audit entry with every field empty, at `time`: each step fills in what it knows. */
export function emptyAudit(time: number): AuditEntry {
  return {
    time,
    keyId: null,
    rootKeyId: null,
    runId: null,
    agentId: null,
    toolCallId: null,
    vendor: null,
    operation: null,
    idempotencyKey: null,
    decision: 'denied',
    code: '',
    message: null,
    estimatedCostUsd: null,
    actualCostUsd: null,
    actualCostIsEstimate: null,
    amount: null,
    currency: null,
    upstreamStatus: null,
    upstreamObjectId: null,
    latencyMs: null,
    traceId: null,
  };
}

/** The audit entry of a call before anything is decided: who made it and what it is. */
export function callAudit(
  request: Pick<Operation, 'vendor' | 'method' | 'path'> & Attribution,
  time: number,
): AuditEntry {
  return {
    ...emptyAudit(time),
    runId: request.runId ?? null,
    agentId: request.agentId ?? null,
    toolCallId: request.toolCallId ?? null,
    traceId: request.traceId ?? null,
    vendor: request.vendor,
    operation: operationName(request),
  };
}

/** Milliseconds since `startedAt` (a `performance.now()` reading), to the microsecond. */
export function elapsed(startedAt: number): number {
  return Math.round((performance.now() - startedAt) * 1000) / 1000;
}

import type { Attribution, Money, Operation } from './operation.ts';

/** The requests the guard takes, and what it hands the vendor call: the pipeline's inputs. */

export interface ExecuteRequest extends Operation, Attribution {
  /** The vault-key token (`sk_sg_…`). */
  key: string;
  /** An explicit checkpoint key (a business key such as an order id) instead of the content hash. */
  idempotencyKey?: string;
  /** Whose duplicates count: the root key's (default) or only this key's (one run). */
  scope?: 'root' | 'run';
  /**
   * Read a vendor object before the call, for profiles that price from it (a full refund). Given
   * the vendor's real credential; what it reads is not stored.
   */
  lookup?: (path: string, credential: string) => Promise<unknown>;
  /**
   * A human already approved this call through the framework's own approval flow (an adapter
   * sets it); policy approval rules then let it through, and the audit row names who.
   */
  approvedBy?: string;
  /**
   * The front end could not decode the request (a body past a bound, a reserved param name):
   * this sentence says why. The call is denied `request_invalid`, audited under its key.
   */
  invalidRequest?: string;
}

/** One execution of an agent tool, checkpointed as a whole (adapters use this). */
export interface ToolCallRequest extends Attribution {
  /** The vault-key token (usually the run key). */
  key: string;
  /** The tool's name. */
  tool: string;
  /** The tool's input (JSON). */
  input: unknown;
  /** The billing-relevant input fields that make the checkpoint key. Default: all of them. */
  fields?: readonly string[];
  /** Whose duplicates count: the root key's (default) or only this run's. */
  scope?: 'root' | 'run';
  /** An explicit checkpoint key instead of the content hash. */
  idempotencyKey?: string;
  /**
   * A human approved this call in the framework's approval flow; vendor calls inside it go through.
   * Trusted as given: set it only from your application's own approval flow, never from a
   * network request or from model output.
   */
  approvedBy?: string;
  /**
   * What the tool reads besides its input (the framework's tool context, e.g. the AI SDK's
   * `toolsContext` entry): part of the checkpoint key, so two customers' calls never share one.
   * Its `runId` is left out (the run is the key's business). `fields` may name `context.<name>`
   * entries to keep only those. Default: none.
   */
  context?: unknown;
}

export interface VendorCallContext {
  /** Send this as the vendor's idempotency header (`Idempotency-Key`). Same on every re-send. */
  idempotencyKey: string;
  /** The vendor's real secret, resolved when read. Never log it. */
  readonly credential: string;
  /** True when this attempt re-sends one whose outcome was unknown. */
  resumed: boolean;
}

/** What the vendor's answer says, read after the call. */
export interface Settlement {
  /** The actual cost; default: the estimate. */
  cost?: Money;
  /** The vendor gave no price: `cost` is the estimate standing in for it. */
  costIsEstimate?: boolean;
  upstreamStatus?: number;
  upstreamObjectId?: string;
}

export interface ExecuteOptions<T> {
  /**
   * Read the actual cost and the vendor's ids from the result (given the estimate, in the call's
   * currency). Default: the vendor profile reads them.
   */
  settle?: (result: T, estimate: Money | undefined) => Settlement;
}

import { describe, expect, it, vi } from 'vitest';
import {
  PolicyError,
  RequestInvalidError,
  RunStoppedError,
  SpendguardError,
  StoreUnavailableError,
  VendorCallError,
} from './errors.ts';

const errors = {
  SpendguardError: new SpendguardError('key_invalid', 'no such key'),
  PolicyError: new PolicyError('spendguard.yaml', [{ path: 'policies', message: 'missing' }]),
  StoreUnavailableError: new StoreUnavailableError('the store is down'),
  RequestInvalidError: new RequestInvalidError('too deep', 'metadata'),
  RunStoppedError: new RunStoppedError('revoked', { code: 'key_revoked' }),
  VendorCallError: new VendorCallError('declined', { outcome: 'failed', status: 402 }),
};
const classes = {
  PolicyError,
  StoreUnavailableError,
  RequestInvalidError,
  RunStoppedError,
  VendorCallError,
};

describe('isInstance', () => {
  it('recognises every spendguard error, and nothing else', () => {
    for (const error of Object.values(errors)) expect(SpendguardError.isInstance(error)).toBe(true);
    for (const other of [new Error('x'), { code: 'key_invalid', message: 'x' }, 'x', null, undefined]) {
      expect(SpendguardError.isInstance(other)).toBe(false);
    }
  });

  it("a subclass recognises its own errors only, not a base error with the subclass's code", () => {
    for (const [name, errorClass] of Object.entries(classes)) {
      for (const [other, error] of Object.entries(errors)) {
        expect(errorClass.isInstance(error), `${name}.isInstance(${other})`).toBe(name === other);
      }
    }
    expect(StoreUnavailableError.isInstance(new SpendguardError('store_unavailable', 'down'))).toBe(false);
  });

  it('recognises errors of another installed copy of core, which instanceof does not', async () => {
    vi.resetModules();
    const copy = await import('./errors.ts');
    expect(copy.RunStoppedError).not.toBe(RunStoppedError);
    const stopped = new copy.RunStoppedError('revoked', { code: 'key_revoked' });
    expect(stopped instanceof RunStoppedError).toBe(false);
    expect(RunStoppedError.isInstance(stopped)).toBe(true);
    expect(SpendguardError.isInstance(stopped)).toBe(true);
    expect(PolicyError.isInstance(stopped)).toBe(false);
    expect(copy.SpendguardError.isInstance(errors.RequestInvalidError)).toBe(true);
  });

  it('adds nothing an error shows when logged or serialized', () => {
    expect(Object.getOwnPropertySymbols(errors.PolicyError)).toEqual([]);
    expect(Object.keys(errors.RunStoppedError).sort()).toEqual(['code', 'decision', 'name']);
  });
});

describe('typed codes', () => {
  it('a stopped run says why; a vendor call error names the decision its outcome becomes', () => {
    expect(errors.RunStoppedError).toMatchObject({ name: 'RunStoppedError', code: 'key_revoked' });
    expect(errors.VendorCallError).toMatchObject({
      name: 'VendorCallError',
      code: 'vendor_error',
      spendguardOutcome: 'failed',
      status: 402,
    });
    expect(new VendorCallError('reset', { outcome: 'unknown' }).code).toBe('outcome_unknown');
  });
});

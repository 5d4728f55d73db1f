import { describe, expect, it } from 'vitest';
import { traceIdOf } from './correlation.ts';

const none = () => false;

describe('traceIdOf', () => {
  it("takes a valid traceparent's trace id first, else a plain x-request-id", () => {
    const headers = new Headers({
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      'x-request-id': 'req-1',
    });
    expect(traceIdOf(headers, none)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(traceIdOf(new Headers({ 'x-request-id': 'run-42:step-3' }), none)).toBe('run-42:step-3');
  });

  it('records no malformed traceparent or request id, and none that carries a secret', () => {
    for (const traceparent of [
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // all-zero trace id
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // version ff is invalid
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', // upper case
      '00-4bf92f3577b34da6a3ce929d0e0e4736-01',
    ]) {
      expect(traceIdOf(new Headers({ traceparent }), none), traceparent).toBeUndefined();
    }
    for (const id of ['', 'has space', 'x'.repeat(129), '{"json":1}', 'a/b']) {
      expect(traceIdOf(new Headers({ 'x-request-id': id }), none), id).toBeUndefined();
    }
    const secret = new Headers({ 'x-request-id': 'looks-innocent' });
    expect(traceIdOf(secret, (text) => text === 'looks-innocent')).toBeUndefined();
  });
});

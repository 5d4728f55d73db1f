import { describe, expect, it } from 'vitest';
import { Admission } from './admission.ts';

describe('admission', () => {
  it('hands freed permits to high priority first, then low in arrival order', async () => {
    const admission = new Admission(1);
    const first = await admission.acquire('low', 0);
    const order: string[] = [];
    const low1 = admission.acquire('low', 0).then((release) => {
      order.push('low1');
      return release;
    });
    const low2 = admission.acquire('low', 0).then((release) => {
      order.push('low2');
      return release;
    });
    const high = admission.acquire('high', 0).then((release) => {
      order.push('high');
      return release;
    });
    first();
    (await high)();
    (await low1)();
    (await low2)();
    expect(order).toEqual(['high', 'low1', 'low2']);
  });

  it('times out a low-priority wait, never a high one, and a release is counted once', async () => {
    const admission = new Admission(1);
    const held = await admission.acquire('high', 0);
    await expect(admission.acquire('low', 20)).rejects.toThrow(/waiting for a free connection/);
    const high = admission.acquire('high', 20);
    held();
    held(); // a second release of the same permit changes nothing
    const release = await high;
    let granted = false;
    const next = admission.acquire('low', 0).then(() => {
      granted = true;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(granted).toBe(false); // one permit: still held by `high`
    release();
    await next;
    expect(granted).toBe(true);
  });
});

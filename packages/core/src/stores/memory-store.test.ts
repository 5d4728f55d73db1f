import { describeStoreConformance } from '../testing/conformance.ts';
import { MemoryStore } from './memory-store.ts';

describeStoreConformance('memory', () => new MemoryStore(), {
  async tamperAudit(store, seq, how) {
    const rows = (store as MemoryStore).auditRowsForTesting();
    const index = rows.findIndex((r) => r.seq === seq);
    if (how === 'delete') rows.splice(index, 1);
    else rows[index] = { ...(rows[index] as (typeof rows)[number]), amount: 9999 };
  },
});

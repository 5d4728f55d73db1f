import { describeStoreConformance } from '../testing/conformance.ts';
import { MemoryStore } from './memory-store.ts';

describeStoreConformance('memory', () => new MemoryStore(), {
  async tamperAudit(store, seq, how) {
    const rows = (store as MemoryStore).auditRowsForTesting();
    const index = rows.findIndex((r) => r.seq === seq);
    const row = rows[index] as (typeof rows)[number];
    if (how === 'delete') rows.splice(index, 1);
    else if (how === 'swap') [rows[index], rows[index + 1]] = [rows[index + 1] as typeof row, row];
    else rows[index] = { ...row, amount: 9999 };
  },
  async rewriteAudit(store, forged, head) {
    const memory = store as MemoryStore;
    memory.auditRowsForTesting().splice(0, Number.POSITIVE_INFINITY, ...forged);
    memory.setAuditHeadForTesting(head);
  },
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll } from 'vitest';
import { describeStoreConformance } from '../testing/conformance.ts';
import { SqliteStore } from './sqlite-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'spendguard-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

describeStoreConformance('sqlite', () => new SqliteStore({ file: join(dir, `store-${n++}.db`) }), {
  async tamperAudit(store, seq, how) {
    const db = new DatabaseSync((store as SqliteStore).file);
    if (how === 'delete') db.prepare('DELETE FROM sg_audit WHERE seq = ?').run(seq);
    else {
      const { data } = db.prepare('SELECT data FROM sg_audit WHERE seq = ?').get(seq) as { data: string };
      db.prepare('UPDATE sg_audit SET data = ? WHERE seq = ?').run(
        JSON.stringify({ ...JSON.parse(data), amount: 9999 }),
        seq,
      );
    }
    db.close();
  },
});

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { createGuard } from '../guard.ts';
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

describe('sqlite file contents', () => {
  it('holds only hashes of vault tokens, never a token or its secret', async () => {
    const file = join(dir, 'tokens.db');
    const store = new SqliteStore({ file });
    const guard = createGuard({
      policies: { policies: { p: { stripe: { allow: ['POST /v1/refunds'] } } } },
      store,
    });
    const root = await guard.keys.issueRoot({ policy: 'p' });
    const run = await guard.keys.derive(root.token, { runId: 'r' });
    await guard.execute(
      { key: run.token, vendor: 'stripe', method: 'POST', path: '/v1/refunds', params: { charge: 'ch_1' } },
      async () => ({ id: 're_1' }),
    );
    const bytes = Buffer.concat(
      [file, `${file}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)),
    ).toString('latin1');
    expect(bytes).toContain(root.id); // the file really is the store we wrote to
    for (const token of [root.token, run.token]) {
      expect(bytes).not.toContain(token);
      expect(bytes).not.toContain(token.slice(-48)); // the secret part
    }
    await guard.close();
  });
});

import { createWriteStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditRow, AuditVerdict } from '@spendguard/core';
import { type AdminClient, query } from '../admin-client.ts';
import { CliError } from '../cli-error.ts';
import { type ConnectOptions, connect } from '../connect.ts';
import { createOutput, decisionColour, type Output, usd, when } from '../output.ts';
import { progressBar } from '../progress.ts';

interface Filters {
  key?: string;
  root?: string;
  run?: string;
  decision?: string;
  vendor?: string;
  /** A trace id: rows whose trace id is it, or it followed by `;` and more (`?trace=`). */
  trace?: string;
}
type Common = ConnectOptions & Filters & { json?: boolean };

const filters = (o: Filters) => ({
  key: o.key,
  root: o.root,
  run: o.run,
  decision: o.decision,
  vendor: o.vendor,
  trace: o.trace,
});

function printRow(out: Output, row: AuditRow): void {
  if (out.json) {
    out.line(JSON.stringify(row));
    return;
  }
  const cost = row.actualCostUsd ?? row.estimatedCostUsd;
  out.line(
    [
      String(row.seq).padStart(6),
      when(row.time),
      decisionColour(row.decision).padEnd(14),
      row.code.padEnd(20),
      row.keyId ?? '—',
      row.runId ?? '—',
      `${row.vendor ?? ''} ${row.operation ?? ''}`.trim() || '—',
      usd(cost),
      row.message ?? '',
    ].join('  '),
  );
}

/** The newest rows; with --follow, new ones as they are written, until interrupted. */
export async function tail(options: Common & { lines: number; follow?: boolean; interval: number }) {
  const out = createOutput(options.json === true);
  const client = await connect(options);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const head = await headSeq(client);
    const { rows } =
      options.lines === 0
        ? { rows: [] }
        : await client.get<{ rows: AuditRow[] }>(
            `/v1/audit${query({ ...filters(options), before: head + 1, limit: options.lines })}`,
          );
    for (const row of rows) printRow(out, row);
    let after = Math.max(head, rows.at(-1)?.seq ?? 0);
    if (options.follow) out.note(`following the audit log after row ${after} (Ctrl-C to stop)`);
    while (options.follow && !stop.signal.aborted) {
      await sleep(options.interval, undefined, { signal: stop.signal }).catch(() => {});
      if (stop.signal.aborted) break;
      // The head is read before the page: a row written between the two reads is then either on
      // the page or past the head, never skipped. Filtered pages skip rows; the head moves past
      // them all the same.
      const headBefore = await headSeq(client);
      const page = await client.get<{ rows: AuditRow[] }>(
        `/v1/audit${query({ ...filters(options), after, limit: 1000 })}`,
      );
      for (const row of page.rows) printRow(out, row);
      after = Math.max(page.rows.at(-1)?.seq ?? after, page.rows.length < 1000 ? headBefore : after);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await client.close();
  }
}

async function headSeq(client: AdminClient): Promise<number> {
  const { rows } = await client.get<{ rows: AuditRow[] }>('/v1/audit?before=9007199254740991&limit=1');
  return rows[0]?.seq ?? 0;
}

/** Every matching row as JSON lines to a file or stdout, streamed, with progress on stderr. */
export async function exportRows(options: Common & { out?: string; after?: number }) {
  const client = await connect(options);
  try {
    const response = await client.request(
      'GET',
      `/v1/audit/export${query({ ...filters(options), after: options.after })}`,
    );
    const total = Number(response.headers.get('spendguard-audit-head') ?? 0) - (options.after ?? 0);
    const sink = options.out ? createWriteStream(options.out) : process.stdout;
    const progress = progressBar('export', total);
    let lines = 0;
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const byte of value) if (byte === 10) lines++;
      if (!sink.write(value)) await new Promise<void>((resolve) => sink.once('drain', () => resolve()));
      progress.update(lines);
    }
    progress.update(lines, Math.max(lines, 1));
    progress.stop();
    if (options.out)
      await new Promise<void>((resolve, reject) =>
        (sink as ReturnType<typeof createWriteStream>).end((e?: Error | null) => (e ? reject(e) : resolve())),
      );
    process.stderr.write(`exported ${lines} rows${options.out ? ` to ${options.out}` : ''}\n`);
  } finally {
    await client.close();
  }
}

/** Recompute the chain (progress on stderr); exit 1 naming the first bad row. */
export async function verify(options: ConnectOptions & { json?: boolean }) {
  const out = createOutput(options.json === true);
  const client = await connect(options);
  let verdict: AuditVerdict | undefined;
  try {
    const response = await client.request('GET', '/v1/audit/verify?stream=true');
    const progress = progressBar('verify', 0);
    let buffer = '';
    const decoder = new TextDecoder();
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline = buffer.indexOf('\n');
      while (newline !== -1) {
        const event = JSON.parse(buffer.slice(0, newline)) as {
          checked?: number;
          of?: number;
          verdict?: AuditVerdict;
          error?: { message: string };
        };
        buffer = buffer.slice(newline + 1);
        if (event.checked !== undefined) progress.update(event.checked, event.of);
        if (event.verdict) verdict = event.verdict;
        if (event.error) throw new CliError(event.error.message);
        newline = buffer.indexOf('\n');
      }
    }
    progress.stop();
  } finally {
    await client.close();
  }
  if (!verdict) throw new CliError('verify ended without a verdict');
  const result = verdict;
  out.result(result, () => {
    if (result.ok) out.line(`audit log intact: ${result.rows} rows, every link and the head check out`);
    else out.line(`audit log BROKEN at row ${result.seq} (${result.problem}): ${result.message}`);
  });
  if (!result.ok) throw new CliError(`audit row ${result.seq}: ${result.problem}`, { code: 'audit_broken' });
}

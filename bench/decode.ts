import { decodeFormParams, RequestInvalidError } from '@spendguard/core';
import qs from 'qs';
import type { BenchResult, Check, LatencyRow, MetricRow } from './report.ts';
import { summarize } from './stats.ts';

/**
 * Decoding an untrusted form body: spendguard's bounded decoder against `qs` (the peer: what
 * Express and most Node servers use for bracket notation, here with the same bounds switched to
 * throwing) and `URLSearchParams` (the baseline: a flat parse, no nesting, no checks). Each body
 * is decoded by all three in turn, interleaved, so they share the heap and JIT state.
 */

const QS_BOUNDS: qs.IParseOptions = {
  plainObjects: true,
  allowPrototypes: false,
  depth: 16,
  strictDepth: true,
  arrayLimit: 100,
  parameterLimit: 1000,
  throwOnLimitExceeded: true,
};

/** A Stripe charge as stripe-node sends it. */
const CHARGE =
  'amount=2000&currency=usd&customer=cus_Q1w2e3r4&description=Order%20%2318&metadata[order_id]=ord_18' +
  '&metadata[agent]=billing&expand[0]=balance_transaction&payment_method_types[0]=card';

const MB = 1_000_000;
const BODIES: { name: string; body: string; calls: number; refused: boolean }[] = [
  { name: 'stripe charge (190 B)', body: CHARGE, calls: 20_000, refused: false },
  {
    name: '1 MB, 999 metadata params',
    body: Array.from({ length: 999 }, (_, i) => `metadata[k${i}]=${'v'.repeat(980)}`).join('&'),
    calls: 40,
    refused: false,
  },
  { name: '1 MB of + in one value', body: `d=${'+'.repeat(MB - 2)}`, calls: 40, refused: false },
  { name: '1 MB name 333k brackets deep', body: `a${'[b]'.repeat(MB / 3)}=1`, calls: 40, refused: true },
  { name: '1 MB index a[999…9]', body: `a[${'9'.repeat(MB - 5)}]=1`, calls: 40, refused: true },
  { name: '1 MB of 250k params', body: 'a=1&'.repeat(MB / 4), calls: 40, refused: true },
];

function time(fn: () => void): number {
  const started = process.hrtime.bigint();
  try {
    fn();
  } catch {
    // a refusal is an answer too: its time is what a hostile body costs
  }
  return Number(process.hrtime.bigint() - started);
}

export async function decode(): Promise<BenchResult> {
  const rows: LatencyRow[] = [];
  const metrics: MetricRow[] = [];
  const checks: Check[] = [];
  for (const { name, body, calls, refused } of BODIES) {
    const ours = new Float64Array(calls);
    const peer = new Float64Array(calls);
    const bare = new Float64Array(calls);
    for (let i = 0; i < calls; i++) {
      bare[i] = time(() => new URLSearchParams(body).size);
      peer[i] = time(() => qs.parse(body, QS_BOUNDS));
      ours[i] = time(() => decodeFormParams(body));
    }
    let answer = 'decoded';
    try {
      decodeFormParams(body);
    } catch (error) {
      answer = RequestInvalidError.isInstance(error) ? 'refused' : 'threw';
    }
    checks.push({
      name: `${name}: ${refused ? 'refused as request_invalid' : 'decoded'}`,
      expected: 1,
      actual: answer === (refused ? 'refused' : 'decoded') ? 1 : 0,
      ok: answer === (refused ? 'refused' : 'decoded'),
      ...(answer !== (refused ? 'refused' : 'decoded') && { detail: answer }),
    });
    const baseline = summarize(bare);
    for (const [label, samples] of [
      ['spendguard', ours],
      ['qs (peer)', peer],
    ] as const) {
      const s = summarize(samples);
      rows.push({
        store: label,
        path: name,
        ...s,
        bareP50Us: baseline.p50Us,
        overheadP50Us: s.p50Us - baseline.p50Us,
        ratio: s.p50Us / baseline.p50Us,
        // The bound: a 1 MB body decodes (or is refused) in well under 100 ms.
        targetP50Us: label === 'spendguard' && body.length >= MB / 2 ? 100_000 : null,
        meetsTarget: label === 'spendguard' && body.length >= MB / 2 ? s.p99Us < 100_000 : null,
      });
    }
    metrics.push({
      store: 'spendguard',
      metric: `${name}: p50 vs qs`,
      value: summarize(ours).p50Us / summarize(peer).p50Us,
      unit: '×',
      target: null,
      meetsTarget: null,
      note: 'below 1 is faster than the peer',
    });
  }
  return {
    name: 'decode',
    title: 'decoding an untrusted form body (per body, µs; bare = URLSearchParams, ratio = p50 / bare p50)',
    rows,
    metrics,
    checks,
  };
}

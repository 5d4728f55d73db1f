/** Latency summary of one series of per-call timings, in microseconds. */
export interface Summary {
  calls: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
  /** p50 of each fifth of the series, in order: how steady the run was. */
  sliceP50sUs: number[];
}

const SLICES = 5;

/** Summarise nanosecond samples. Nearest-rank percentiles: every reported value is a real sample. */
export function summarize(samplesNs: Float64Array): Summary {
  const sorted = Float64Array.from(samplesNs).sort();
  const calls = sorted.length;
  if (calls === 0) throw new Error('summarize: no samples');
  let total = 0;
  for (const ns of sorted) total += ns;
  return {
    calls,
    p50Us: percentile(sorted, 50) / 1000,
    p99Us: percentile(sorted, 99) / 1000,
    meanUs: total / calls / 1000,
    sliceP50sUs: sliceMedians(samplesNs, SLICES),
  };
}

function percentile(sorted: Float64Array, p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}

/**
 * p50 of each consecutive slice of the samples, in µs. On a shared 2-vCPU VM the host's noise
 * comes in stretches of thousands of calls; a wide spread here says the run was disturbed.
 */
export function sliceMedians(samplesNs: Float64Array, slices: number): number[] {
  const size = Math.floor(samplesNs.length / slices);
  const medians: number[] = [];
  for (let i = 0; i < slices && size > 0; i++) {
    const sorted = samplesNs.slice(i * size, (i + 1) * size).sort();
    medians.push(percentile(sorted, 50) / 1000);
  }
  return medians;
}

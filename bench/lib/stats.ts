/** Small statistics and loop helpers for the benchmarks. */

/** Linear-interpolated percentile (p in 0..100) of a non-empty sample. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new Error('percentile of an empty sample')
  const sorted = [...samples].sort((a, b) => a - b)
  const rank = (p / 100) * (sorted.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.ceil(rank)
  const a = sorted[lo] as number
  const b = sorted[hi] as number
  return a + (b - a) * (rank - lo)
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50)
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** A compact summary of a sample for the JSON details. */
export function summary(samples: readonly number[], digits = 2): { n: number; median: number; p90: number; min: number; max: number; samples: number[] } {
  return {
    n: samples.length,
    median: round(median(samples), digits),
    p90: round(percentile(samples, 90), digits),
    min: round(Math.min(...samples), digits),
    max: round(Math.max(...samples), digits),
    samples: samples.map((s) => round(s, digits)),
  }
}

/**
 * Runs `fn` up to `count` times, stopping early once `budgetMs` has passed (after at least one
 * run). Every loop of the suite goes through here, so each is bounded in count and in time.
 */
export async function bounded<T>(count: number, budgetMs: number, fn: (i: number) => Promise<T>): Promise<{ results: T[]; truncated: boolean }> {
  const started = performance.now()
  const results: T[] = []
  for (let i = 0; i < count; i++) {
    if (i > 0 && performance.now() - started > budgetMs) return { results, truncated: true }
    results.push(await fn(i))
  }
  return { results, truncated: false }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

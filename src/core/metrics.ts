/**
 * A minimal Prometheus registry: counters and gauges with labels, and histograms with fixed
 * buckets, rendered in the text exposition format. Enough for a daemon with a handful of series.
 * Every series is named `<daemon>_<name>` (routerd_dhcp_leases, storaged_…): callers give the
 * name without the prefix, so shared code publishes under whichever daemon runs it.
 */

type Labels = Record<string, string>

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}

interface Series { help: string; type: 'counter' | 'gauge' | 'histogram'; values: Map<string, number>; buckets?: number[] }

export class Metrics {
  private readonly series = new Map<string, Series>()
  private readonly collectors: (() => void)[] = []

  constructor(readonly prefix: string) {}

  /**
   * Runs `fn` before every render: hot paths (tens of thousands of DNS queries a second) count
   * in plain fields and publish them here with setCounter, instead of paying for labels per packet.
   */
  collect(fn: () => void): void {
    this.collectors.push(fn)
  }

  /** Sets a counter to a total kept elsewhere. */
  setCounter(name: string, help: string, value: number, labels: Labels = {}): void {
    this.get(name, 'counter', help).values.set(labelText(labels), value)
  }

  private get(name: string, type: Series['type'], help: string): Series {
    let s = this.series.get(name)
    if (s === undefined) this.series.set(name, (s = { help, type, values: new Map() }))
    return s
  }

  /** The exposed name of a series. */
  fullName(name: string): string {
    return `${this.prefix}_${name}`
  }

  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    const s = this.get(name, 'counter', help)
    const key = labelText(labels)
    s.values.set(key, (s.values.get(key) ?? 0) + by)
  }

  set(name: string, help: string, value: number, labels: Labels = {}): void {
    this.get(name, 'gauge', help).values.set(labelText(labels), value)
  }

  /** Drops one labelled series (e.g. a gauge of a backend that is no longer configured). */
  remove(name: string, labels: Labels = {}): void {
    this.series.get(name)?.values.delete(labelText(labels))
  }

  observe(name: string, help: string, value: number, buckets: number[]): void {
    const s = this.get(name, 'histogram', help)
    s.buckets = buckets
    for (const b of buckets) if (value <= b) s.values.set(`le|${b}`, (s.values.get(`le|${b}`) ?? 0) + 1)
    s.values.set('le|+Inf', (s.values.get('le|+Inf') ?? 0) + 1)
    s.values.set('sum', (s.values.get('sum') ?? 0) + value)
    s.values.set('count', (s.values.get('count') ?? 0) + 1)
  }

  /** The exposition text. */
  render(): string {
    for (const fn of this.collectors) fn()
    const out: string[] = []
    for (const [short, s] of this.series) {
      const name = this.fullName(short)
      out.push(`# HELP ${name} ${s.help}`, `# TYPE ${name} ${s.type}`)
      if (s.type === 'histogram') {
        for (const b of [...(s.buckets ?? []).map(String), '+Inf']) out.push(`${name}_bucket{le="${b}"} ${s.values.get(`le|${b}`) ?? 0}`)
        out.push(`${name}_sum ${s.values.get('sum') ?? 0}`, `${name}_count ${s.values.get('count') ?? 0}`)
      } else for (const [labels, v] of s.values) out.push(`${name}${labels} ${v}`)
    }
    return out.join('\n') + '\n'
  }
}

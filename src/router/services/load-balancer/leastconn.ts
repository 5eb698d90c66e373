import type { NLoadBalancer } from '../../model/normalize.ts'

/**
 * leastconn in the kernel, approximated: the kernel cannot pick "the backend with the fewest
 * connections" per new connection, so routerd counts each backend's connections in conntrack
 * every few seconds and steers the spread's weights towards the emptier ones (run-time facts,
 * render/iptables/load-balancer.ts). Its limits: between two counts the weights stand still, so
 * a burst of new connections is spread by the last count; a count sees connections, not their
 * load; and UDP has no "established", so a UDP flow counts while its conntrack entry lives.
 */

/** One `conntrack -L` line's original destination port and reply source (the backend). */
const LINE = /\bdst=(\S+) sport=\d+ dport=(\d+) src=(\S+) dst=\S+ sport=(\d+)/

/**
 * Pure. Connections per backend key of `lb` in `conntrack -L -p <proto> --orig-dst <vip>`
 * output: TCP ones only while ESTABLISHED, on the rule's public ports.
 */
export function countByBackend(text: string, lb: NLoadBalancer): Map<string, number> {
  const counts = new Map<string, number>(lb.backends.map((b) => [b.key, 0]))
  const byAddress = new Map(lb.backends.map((b) => [`${b.ip} ${b.port}`, b.key]))
  for (const line of text.split('\n')) {
    if (lb.protocol === 'tcp' && !line.includes(' ESTABLISHED ')) continue
    const m = LINE.exec(line)
    if (m === null || m[1] !== lb.publicIp) continue
    const dport = Number(m[2])
    if (dport < lb.publicStart || dport > lb.publicEnd) continue
    const key = byAddress.get(`${m[3]} ${Number(m[4]) - (dport - lb.publicStart)}`)
    if (key !== undefined) counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return counts
}

/** Steps a steered weight moves in: 1..STEPS, so small changes in counts do not re-apply. */
const STEPS = 16

/**
 * Pure. The weights that steer new connections to the emptier backends: each backend's own
 * weight divided by (1 + its connections), scaled so the emptiest taking backend gets STEPS and
 * quantized; a drained backend (weight 0) stays 0. Backends of equal counts and weights get
 * equal weights, which the renderer turns into exact rotation.
 */
export function steeredWeights(lbs: readonly NLoadBalancer[], counts: ReadonlyMap<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const lb of lbs) {
    const raw = lb.backends.map((b) => ({ key: b.key, value: b.weight === 0 ? 0 : b.weight / (1 + (counts.get(b.key) ?? 0)) }))
    const top = Math.max(0, ...raw.map((r) => r.value))
    for (const r of raw) out[r.key] = r.value === 0 || top === 0 ? 0 : Math.max(1, Math.round((r.value / top) * STEPS))
  }
  return out
}

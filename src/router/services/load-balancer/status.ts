import type { Static } from 'typebox'
import type { LbCheckResult, LbState } from '../../api/contract.ts'
import type { NLoadBalancer } from '../../model/normalize.ts'
import type { HaproxyServerStat } from './haproxy/manager.ts'
import { backendName, serverName } from './haproxy/render.ts'

/** One backend's health as the monitor keeps it (health/monitor.ts snapshot()). */
export interface HealthEntry {
  key: string
  state: 'up' | 'down'
  since: string
  lastResult: Static<typeof LbCheckResult> | null
  consecutivePasses: number
  consecutiveFailures: number
}

/** Pure. `GET /v1/lb`: every load balancer and backend with its health, steering, counts and, for those HAProxy serves, HAProxy's view. */
export function loadBalancerStates(lbs: readonly NLoadBalancer[], health: readonly HealthEntry[], weights: Readonly<Record<string, number>>,
  counts: ReadonlyMap<string, number>, proxyStats: readonly HaproxyServerStat[] = []): Static<typeof LbState>[] {
  const byKey = new Map(health.map((h) => [h.key, h]))
  const proxied = new Map(proxyStats.map((s) => [`${s.backend}/${s.server}`, s]))
  return lbs.map((r) => ({
    id: r.id, mode: r.mode, publicIp: r.publicIp, protocol: r.protocol,
    ports: r.publicStart === r.publicEnd ? String(r.publicStart) : `${r.publicStart}-${r.publicEnd}`,
    backends: r.backends.map((b) => {
      const h = byKey.get(b.key)
      const steered = r.algorithm === 'leastconn' ? weights[b.key] : undefined
      const connections = r.algorithm === 'leastconn' ? counts.get(b.key) : undefined
      const stat = proxied.get(`${backendName(r.id)}/${serverName(b.ip, b.port)}`)
      return {
        ip: b.ip, port: b.port, weight: b.weight,
        ...(steered === undefined ? {} : { steeredWeight: steered }),
        state: h?.state ?? 'unchecked',
        since: h?.since ?? null,
        lastResult: h?.lastResult ?? null,
        consecutivePasses: h?.consecutivePasses ?? 0,
        consecutiveFailures: h?.consecutiveFailures ?? 0,
        ...(connections === undefined ? {} : { connections }),
        ...(stat === undefined ? {} : { haproxy: { status: stat.status, sessions: stat.sessions, totalSessions: stat.totalSessions, check: stat.check } }),
      }
    }),
  }))
}

import type { RouterConfig } from '../../../model/config.ts'
import { backendKey } from '../../../model/normalize.ts'

/** One backend to check, every default filled in. */
export interface HealthTarget {
  /** `<load balancer id> <ip>:<first private port>`: how render and run-time facts name the backend. */
  key: string
  lb: string
  ip: string
  /** The port checked. */
  port: number
  type: 'tcp' | 'http'
  path: string
  /** http: the status a healthy backend answers; undefined: any 2xx or 3xx. */
  expectStatus: number | undefined
  /** The checked port is the traffic port of a rule that sends the PROXY protocol: it expects that header first. */
  proxyProtocol: boolean
  intervalMs: number
  timeoutMs: number
  rise: number
  fall: number
}

export const HEALTH_DEFAULTS = { intervalSeconds: 5, timeoutSeconds: 2, rise: 2, fall: 3, path: '/' } as const

/**
 * Pure. One target per backend of every load balancer with a health check (drained backends
 * too: they come back checked), sorted by key. Backends of load balancers without a check are
 * never down. A udp rule is checked with tcp on its named port (the config checks ensure one).
 */
export function healthTargets(config: RouterConfig): HealthTarget[] {
  const out: HealthTarget[] = []
  for (const lb of config.loadBalancers) {
    const hc = lb.healthCheck
    if (hc === undefined) continue
    for (const b of lb.backends) {
      const first = b.port ?? lb.privatePorts.start
      out.push({
        key: backendKey(lb.id, b.ip, first), lb: lb.id, ip: b.ip, port: hc.port ?? first,
        type: lb.protocol === 'udp' ? 'tcp' : hc.type, path: hc.path ?? HEALTH_DEFAULTS.path, expectStatus: hc.expectStatus,
        proxyProtocol: lb.proxyProtocol === true && hc.port === undefined,
        intervalMs: (hc.intervalSeconds ?? HEALTH_DEFAULTS.intervalSeconds) * 1000, timeoutMs: (hc.timeoutSeconds ?? HEALTH_DEFAULTS.timeoutSeconds) * 1000,
        rise: hc.rise ?? HEALTH_DEFAULTS.rise, fall: hc.fall ?? HEALTH_DEFAULTS.fall,
      })
    }
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
}

/** Pure. Whether two targets of one key are checked the same way (else its state starts over). */
export function sameCheck(a: HealthTarget, b: HealthTarget): boolean {
  return a.ip === b.ip && a.port === b.port && a.type === b.type && a.path === b.path && a.expectStatus === b.expectStatus && a.proxyProtocol === b.proxyProtocol
    && a.intervalMs === b.intervalMs && a.timeoutMs === b.timeoutMs && a.rise === b.rise && a.fall === b.fall
}

import { describe, expect, it } from 'vitest'
import { Metrics } from '../../../src/core/metrics.ts'
import { emptyConfig, type LoadBalancer, type RouterConfig } from '../../../src/router/model/config.ts'
import { firstDelay } from '../../../src/router/services/load-balancer/health/monitor.ts'
import { initialHealth, nextHealth, type CheckResult } from '../../../src/router/services/load-balancer/health/state.ts'
import { healthTargets } from '../../../src/router/services/load-balancer/health/targets.ts'

const LB: LoadBalancer = {
  id: 'web', publicIp: '203.0.113.10', protocol: 'tcp', publicPorts: { start: 80 }, privatePorts: { start: 8080 },
  backends: [{ ip: '10.1.1.21' }, { ip: '10.1.1.22', port: 9090, weight: 0 }], healthCheck: { type: 'http', path: '/health', rise: 1 },
}
const config = (lbs: LoadBalancer[]): RouterConfig => ({ ...emptyConfig(), loadBalancers: lbs })

describe('health targets', () => {
  it('one per backend with every default filled in, drained backends too, sorted by key', () => {
    expect(healthTargets(config([LB]))).toEqual([
      { key: 'web 10.1.1.21:8080', lb: 'web', ip: '10.1.1.21', port: 8080, type: 'http', path: '/health', expectStatus: undefined, proxyProtocol: false, intervalMs: 5000, timeoutMs: 2000, rise: 1, fall: 3 },
      { key: 'web 10.1.1.22:9090', lb: 'web', ip: '10.1.1.22', port: 9090, type: 'http', path: '/health', expectStatus: undefined, proxyProtocol: false, intervalMs: 5000, timeoutMs: 2000, rise: 1, fall: 3 },
    ])
  })

  it('a udp rule is checked with tcp on its named port; a rule without a check has no targets', () => {
    const udp: LoadBalancer = { ...LB, id: 'dns', protocol: 'udp', publicPorts: { start: 53 }, privatePorts: { start: 53 }, backends: [{ ip: '10.1.1.21' }], healthCheck: { type: 'tcp', port: 5353 } }
    const { healthCheck: _h, ...unchecked } = LB
    expect(healthTargets(config([udp, { ...unchecked, id: 'plain' }])).map((t) => [t.key, t.type, t.port])).toEqual([['dns 10.1.1.21:53', 'tcp', 5353]])
  })

  it('a rule sending the PROXY protocol is checked with its header on the traffic port, not on a separate check port', () => {
    const proxied: LoadBalancer = { ...LB, mode: 'http', proxyProtocol: true }
    const separate: LoadBalancer = { ...proxied, id: 'sep', healthCheck: { type: 'http', port: 9999 } }
    expect(healthTargets(config([proxied, separate])).map((t) => [t.key, t.port, t.proxyProtocol])).toEqual([
      ['sep 10.1.1.21:8080', 9999, false], ['sep 10.1.1.22:9090', 9999, false], ['web 10.1.1.21:8080', 8080, true], ['web 10.1.1.22:9090', 9090, true],
    ])
  })
})

describe('health state', () => {
  const fail = (at: number): CheckResult => ({ ok: false, detail: 'connect refused', at, durationMs: 1 })
  const pass = (at: number): CheckResult => ({ ok: true, detail: 'connected', at, durationMs: 1 })
  const limits = { rise: 2, fall: 3 }

  it('starts up, goes down at the fall-th failure in a row and up at the rise-th pass in a row', () => {
    let s = initialHealth(0)
    const seen: (string | undefined)[] = []
    for (const [i, r] of [fail(1), fail(2), pass(3), fail(4), fail(5), fail(6), pass(7), fail(8), pass(9), pass(10)].entries()) {
      const next = nextHealth(s, r, limits)
      seen[i] = next.transition
      s = next.state
    }
    expect(seen).toEqual([undefined, undefined, undefined, undefined, undefined, 'down', undefined, undefined, undefined, 'up'])
    expect(s).toMatchObject({ state: 'up', since: 10, passes: 2, failures: 0 })
  })
})

describe('health monitor scheduling', () => {
  it('spreads first checks over the interval, the same way every start', () => {
    const delays = Array.from({ length: 200 }, (_, i) => firstDelay(`web 10.1.${i >> 8}.${i & 255}:80`, 5000))
    expect(delays).toEqual(Array.from({ length: 200 }, (_, i) => firstDelay(`web 10.1.${i >> 8}.${i & 255}:80`, 5000)))
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...delays)).toBeLessThan(5000)
    // Spread, not bunched: each fifth of the interval holds some of them.
    for (let k = 0; k < 5; k++) expect(delays.filter((d) => d >= k * 1000 && d < (k + 1) * 1000).length).toBeGreaterThan(20)
  })

  it('metrics drop the series of a backend no longer configured', () => {
    const m = new Metrics('routerd')
    m.set('lb_backend_up', 'h', 1, { lb: 'web', backend: '10.1.1.21:8080' })
    m.set('lb_backend_up', 'h', 0, { lb: 'web', backend: '10.1.1.22:8080' })
    m.remove('lb_backend_up', { lb: 'web', backend: '10.1.1.21:8080' })
    expect(m.render()).toContain('routerd_lb_backend_up{lb="web",backend="10.1.1.22:8080"} 0')
    expect(m.render()).not.toContain('10.1.1.21')
  })
})

import { describe, expect, it } from 'vitest'
import type { LoadBalancer } from '../../../src/router/model/config.ts'
import { normalizeLoadBalancer } from '../../../src/router/model/normalize.ts'
import { loadBalancerStates } from '../../../src/router/services/load-balancer/status.ts'

const WEB: LoadBalancer = {
  id: 'web', publicIp: '203.0.113.10', protocol: 'tcp', publicPorts: { start: 80 }, privatePorts: { start: 8080 }, mode: 'http',
  backends: [{ ip: '10.1.1.21' }, { ip: '10.1.1.22', port: 9000, weight: 2 }],
}

describe('GET /v1/lb states', () => {
  it('joins routerd\'s health and HAProxy\'s view of each server; a backend HAProxy does not list has no haproxy part', () => {
    const health = [{ key: 'web 10.1.1.21:8080', state: 'down' as const, since: '2026-12-04T00:00:00.000Z', lastResult: null, consecutivePasses: 0, consecutiveFailures: 3 }]
    const stats = [
      { backend: 'be-web', server: 's-10-1-1-21-8080', status: 'MAINT', sessions: 0, totalSessions: 12, check: 'L7STS' },
      { backend: 'be-other', server: 's-10-1-1-22-9000', status: 'UP', sessions: 5, totalSessions: 5, check: '' },
    ]
    const [state] = loadBalancerStates([normalizeLoadBalancer(WEB)], health, {}, new Map(), stats)
    expect(state?.backends).toEqual([
      { ip: '10.1.1.21', port: 8080, weight: 1, state: 'down', since: '2026-12-04T00:00:00.000Z', lastResult: null, consecutivePasses: 0, consecutiveFailures: 3,
        haproxy: { status: 'MAINT', sessions: 0, totalSessions: 12, check: 'L7STS' } },
      { ip: '10.1.1.22', port: 9000, weight: 2, state: 'unchecked', since: null, lastResult: null, consecutivePasses: 0, consecutiveFailures: 0 },
    ])
  })
})

import { describe, expect, it } from 'vitest'
import { normalizeLoadBalancer } from '../../../src/router/model/normalize.ts'
import { countByBackend, steeredWeights } from '../../../src/router/services/load-balancer/leastconn.ts'

const LB = normalizeLoadBalancer({
  id: 'web', publicIp: '203.0.113.10', protocol: 'tcp', publicPorts: { start: 80, end: 81 }, privatePorts: { start: 8080, end: 8081 },
  algorithm: 'leastconn', backends: [{ ip: '10.1.1.21' }, { ip: '10.1.1.22', weight: 2 }, { ip: '10.1.1.23', weight: 0 }],
})

const line = (state: string, dport: number, backend: string, bport: number, vip = '203.0.113.10') =>
  `tcp      6 431999 ${state} src=192.0.2.10 dst=${vip} sport=45678 dport=${dport} src=${backend} dst=192.0.2.10 sport=${bport} dport=45678 [ASSURED] mark=0 use=1`

describe('leastconn', () => {
  it('counts established connections per backend on the rule\'s ports, mapping a range back to the backend\'s first port', () => {
    const text = [
      line('ESTABLISHED', 80, '10.1.1.21', 8080), line('ESTABLISHED', 81, '10.1.1.21', 8081), line('TIME_WAIT', 80, '10.1.1.22', 8080),
      line('ESTABLISHED', 80, '10.1.1.22', 8080), line('ESTABLISHED', 443, '10.1.1.22', 8080), line('ESTABLISHED', 80, '10.1.1.22', 8080, '203.0.113.99'),
      'conntrack v1.4.7 (conntrack-tools): 6 flow entries have been shown.',
    ].join('\n')
    expect(Object.fromEntries(countByBackend(text, LB))).toEqual({ 'web 10.1.1.21:8080': 2, 'web 10.1.1.22:8080': 1, 'web 10.1.1.23:8080': 0 })
  })

  it('steers towards the emptier backends by weight / (1 + connections), quantized; drained stays 0', () => {
    const counts = new Map([['web 10.1.1.21:8080', 0], ['web 10.1.1.22:8080', 3], ['web 10.1.1.23:8080', 0]])
    expect(steeredWeights([LB], counts)).toEqual({ 'web 10.1.1.21:8080': 16, 'web 10.1.1.22:8080': 8, 'web 10.1.1.23:8080': 0 })
    expect(steeredWeights([LB], new Map())).toEqual({ 'web 10.1.1.21:8080': 8, 'web 10.1.1.22:8080': 16, 'web 10.1.1.23:8080': 0 })
  })
})

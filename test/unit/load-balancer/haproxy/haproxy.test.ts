import { readFileSync, writeFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { LoadBalancer } from '../../../../src/router/model/config.ts'
import { planHaproxy } from '../../../../src/router/services/load-balancer/haproxy/plan.ts'
import { renderHaproxyConfig } from '../../../../src/router/services/load-balancer/haproxy/render.ts'
import { commandSucceeded, parseShowStat } from '../../../../src/router/services/load-balancer/haproxy/runtime-api.ts'

const WEB: LoadBalancer = {
  id: 'web', publicIp: '203.0.113.10', protocol: 'tcp', publicPorts: { start: 80 }, privatePorts: { start: 8080 }, mode: 'http',
  backends: [{ ip: '10.1.1.22', weight: 3 }, { ip: '10.1.1.21' }, { ip: '10.1.1.23', weight: 0 }],
  stickiness: { kind: 'lbCookie' }, healthCheck: { type: 'http', path: '/health', expectStatus: 204, intervalSeconds: 2 }, sourceCidrs: ['198.51.100.0/24', '192.0.2.0/24'],
}
const SECURE: LoadBalancer = {
  id: 'secure', publicIp: '203.0.113.10', protocol: 'tcp', publicPorts: { start: 8443, end: 8444 }, privatePorts: { start: 9443, end: 9444 }, mode: 'tls', tls: { certificate: 'site' },
  algorithm: 'leastconn', backends: [{ ip: '10.1.1.21' }, { ip: '10.1.1.24', port: 7000 }], stickiness: { kind: 'appCookie', cookie: 'JSESSIONID' }, proxyProtocol: true, maxConnectionsPerBackend: 100, maxConnectionsPerClient: 64, healthCheck: { type: 'tcp' },
}
const L4: LoadBalancer = { id: 'kernel', publicIp: '203.0.113.10', protocol: 'udp', publicPorts: { start: 53 }, privatePorts: { start: 53 }, backends: [{ ip: '10.1.1.21' }] }
const OPTS = { runtimeDir: '/var/lib/routerd/haproxy', certificatePath: (id: string) => `/var/lib/routerd/certificates/${id}.pem`, down: new Set(['web 10.1.1.21:8080']) }

describe('haproxy.cfg', () => {
  it('renders modes http and tls only, byte for byte (golden), the same whatever the input order', () => {
    const text = renderHaproxyConfig([WEB, L4, SECURE], OPTS)
    const golden = new URL('golden/haproxy.cfg', import.meta.url)
    if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(golden, text)
    expect(text).toBe(readFileSync(golden, 'utf8'))
    expect(renderHaproxyConfig([SECURE, WEB], OPTS)).toBe(text)
  })
})

describe('planHaproxy', () => {
  const none = new Set<string>()
  it('backends added, removed, reweighted or held down are runtime commands', () => {
    const next = { ...WEB, backends: [{ ip: '10.1.1.22', weight: 1 }, { ip: '10.1.1.21' }, { ip: '10.1.1.25' }] }
    expect(planHaproxy([WEB], none, [next], new Set(['web 10.1.1.21:8080']))).toEqual({
      kind: 'runtime', commands: [
        'set server be-web/s-10-1-1-23-8080 state maint', 'del server be-web/s-10-1-1-23-8080',
        'set server be-web/s-10-1-1-21-8080 state maint',
        'set weight be-web/s-10-1-1-22-8080 1',
        'add server be-web/s-10-1-1-25-8080 10.1.1.25:8080 weight 1 check port 8080 inter 2000 rise 2 fall 3 cookie s-10-1-1-25-8080',
        'enable server be-web/s-10-1-1-25-8080', 'enable health be-web/s-10-1-1-25-8080',
      ],
    })
  })

  it('anything structural reloads; nothing changed is nothing; l4 rules are not HAProxy\'s', () => {
    expect(planHaproxy([WEB], none, [{ ...WEB, algorithm: 'source' }], none)).toEqual({ kind: 'reload' })
    expect(planHaproxy([WEB], none, [WEB, SECURE], none)).toEqual({ kind: 'reload' })
    expect(planHaproxy([WEB], none, [{ ...WEB, publicPorts: { start: 81 } }], none)).toEqual({ kind: 'reload' })
    expect(planHaproxy([WEB, L4], none, [WEB], none)).toEqual({ kind: 'none' })
  })
})

describe('runtime API answers', () => {
  it('tells success from a refusal, and reads show stat', () => {
    expect(commandSucceeded('\n')).toBe(true)
    expect(commandSucceeded('New server registered.\n')).toBe(true)
    expect(commandSucceeded('Server still has connections attached to it, cannot remove it.\n')).toBe(false)
    expect(parseShowStat('# pxname,svname,status,scur\nbe-web,s-1,UP,3\nbe-web,BACKEND,UP,3\n')).toEqual([
      { pxname: 'be-web', svname: 's-1', status: 'UP', scur: '3' }, { pxname: 'be-web', svname: 'BACKEND', status: 'UP', scur: '3' },
    ])
  })
})

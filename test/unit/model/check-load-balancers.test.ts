import { describe, expect, it } from 'vitest'
import { emptyConfig, type LoadBalancer, type RouterConfig } from '../../../src/router/model/config.ts'
import { checkConfig } from '../../../src/router/model/check.ts'
import { validateConfig } from '../../../src/router/model/parse.ts'

const WEB: LoadBalancer = {
  id: 'web', publicIp: '203.0.113.10', protocol: 'tcp', publicPorts: { start: 80 }, privatePorts: { start: 8080 },
  backends: [{ ip: '10.1.1.10' }, { ip: '10.1.1.11', weight: 2 }],
}

function config(lbs: unknown[], extra: Partial<RouterConfig> = {}): unknown {
  const c: RouterConfig = {
    ...emptyConfig(),
    interfaces: [{ id: 'g', role: 'guest', name: 'eth1' }, { id: 'p', role: 'public', name: 'eth2' }],
    publicIps: [
      { id: 'snat', ip: '203.0.113.10', prefixLength: 24, interface: 'p', sourceNat: true },
      { id: 'static', ip: '203.0.113.11', prefixLength: 24, interface: 'p' },
    ],
    guestNetworks: [{ id: 'n1', interface: 'g', cidr: '10.1.1.0/24', routerIp: '10.1.1.1' }],
    staticNats: [{ id: 'sn', publicIp: '203.0.113.11', privateIp: '10.1.1.20' }],
    ...extra,
  }
  return { ...c, loadBalancers: lbs }
}

function problems(doc: unknown, severity: 'error' | 'warning' = 'error'): [string, string][] {
  const parsed = validateConfig(doc)
  if (!parsed.ok) return parsed.diagnostics.map((d) => [d.path, d.code])
  return checkConfig(parsed.config).filter((d) => d.severity === severity).map((d) => [d.path, d.code])
}

describe('loadBalancers checks', () => {
  const cases: { name: string; lbs: unknown[]; extra?: Partial<RouterConfig>; expect: [string, string][] }[] = [
    { name: 'a load balancer on the source-NAT IP is accepted (as in CloudStack)', lbs: [WEB], expect: [] },
    { name: 'not on a static-NAT IP', lbs: [{ ...WEB, publicIp: '203.0.113.11' }], expect: [['/loadBalancers/0/publicIp', 'ERR_LOAD_BALANCER_ON_STATIC_NAT']] },
    { name: 'not on an address the router does not hold', lbs: [{ ...WEB, publicIp: '203.0.113.99' }], expect: [['/loadBalancers/0/publicIp', 'ERR_UNKNOWN_PUBLIC_IP']] },
    {
      name: 'ports shared with a port forward are refused at the load balancer',
      lbs: [{ ...WEB, publicPorts: { start: 79, end: 81 }, privatePorts: { start: 79, end: 81 } }],
      extra: { portForwards: [{ id: 'pf', publicIp: '203.0.113.10', protocol: 'tcp', publicPorts: { start: 81 }, privateIp: '10.1.1.10', privatePorts: { start: 81 } }] },
      expect: [['/loadBalancers/0/publicPorts', 'ERR_LOAD_BALANCER_OVERLAP']],
    },
    {
      name: 'the same port on udp is another port',
      lbs: [WEB],
      extra: { portForwards: [{ id: 'pf', publicIp: '203.0.113.10', protocol: 'udp', publicPorts: { start: 80 }, privateIp: '10.1.1.10', privatePorts: { start: 80 } }] },
      expect: [],
    },
    {
      name: 'two load balancers on one port are both reported',
      lbs: [WEB, { ...WEB, id: 'web2', publicPorts: { start: 70, end: 90 }, privatePorts: { start: 70, end: 90 } }],
      expect: [['/loadBalancers/0/publicPorts', 'ERR_LOAD_BALANCER_OVERLAP'], ['/loadBalancers/1/publicPorts', 'ERR_LOAD_BALANCER_OVERLAP']],
    },
    { name: 'ranges of one length', lbs: [{ ...WEB, privatePorts: { start: 8080, end: 8081 } }], expect: [['/loadBalancers/0/privatePorts', 'ERR_PORT_RANGE_LENGTH']] },
    {
      name: 'backends must be guest VMs, each once',
      lbs: [{ ...WEB, backends: [{ ip: '10.9.9.9' }, { ip: '10.1.1.1' }, { ip: '10.1.1.10' }, { ip: '10.1.1.10', port: 8080 }] }],
      expect: [
        ['/loadBalancers/0/backends/0/ip', 'ERR_ADDRESS_OUTSIDE_NETWORK'], ['/loadBalancers/0/backends/1/ip', 'ERR_ADDRESS_IN_USE'],
        ['/loadBalancers/0/backends/3', 'ERR_DUPLICATE_BACKEND'],
      ],
    },
    {
      name: "a backend's own port must hold the whole range",
      lbs: [{ ...WEB, publicPorts: { start: 80, end: 89 }, privatePorts: { start: 80, end: 89 }, backends: [{ ip: '10.1.1.10', port: 65530 }] }],
      expect: [['/loadBalancers/0/backends/0/port', 'ERR_BAD_PORT_RANGE']],
    },
    { name: 'http and tls proxy tcp only', lbs: [{ ...WEB, protocol: 'udp', mode: 'http' }], expect: [['/loadBalancers/0/mode', 'ERR_LB_MODE']] },
    { name: 'tls needs its certificate', lbs: [{ ...WEB, mode: 'tls' }], expect: [['/loadBalancers/0/tls', 'ERR_LB_MODE']] },
    {
      name: 'the kernel path neither proxies nor reads cookies',
      lbs: [{ ...WEB, proxyProtocol: true, maxConnectionsPerBackend: 10, stickiness: { kind: 'lbCookie' } }],
      expect: [['/loadBalancers/0/proxyProtocol', 'ERR_LB_MODE'], ['/loadBalancers/0/maxConnectionsPerBackend', 'ERR_LB_MODE'], ['/loadBalancers/0/stickiness/kind', 'ERR_LB_MODE']],
    },
    { name: 'sourceNat is for l4', lbs: [{ ...WEB, mode: 'http', sourceNat: true }], expect: [['/loadBalancers/0/sourceNat', 'ERR_LB_MODE']] },
    { name: 'l7 with cookies and the PROXY protocol is accepted', lbs: [{ ...WEB, mode: 'http', proxyProtocol: true, stickiness: { kind: 'appCookie', cookie: 'JSESSIONID' } }], expect: [] },
    {
      name: 'a udp load balancer is checked with tcp on a named port',
      lbs: [{ ...WEB, protocol: 'udp', healthCheck: { type: 'http' } }],
      expect: [['/loadBalancers/0/healthCheck/type', 'ERR_LB_HEALTH_CHECK'], ['/loadBalancers/0/healthCheck/port', 'ERR_LB_HEALTH_CHECK']],
    },
    { name: 'a timeout longer than the interval', lbs: [{ ...WEB, healthCheck: { type: 'tcp', intervalSeconds: 2, timeoutSeconds: 3 } }], expect: [['/loadBalancers/0/healthCheck/timeoutSeconds', 'ERR_LB_HEALTH_CHECK']] },
    { name: 'a path needs an http check', lbs: [{ ...WEB, healthCheck: { type: 'tcp', path: '/x' } }], expect: [['/loadBalancers/0/healthCheck/type', 'ERR_LB_HEALTH_CHECK']] },
    { name: 'weights are 0 to 256', lbs: [{ ...WEB, backends: [{ ip: '10.1.1.10', weight: 257 }] }], expect: [['/loadBalancers/0/backends/0/weight', 'ERR_SCHEMA']] },
  ]
  for (const c of cases) it(c.name, () => expect(problems(config(c.lbs, c.extra))).toEqual(c.expect))

  it('warns when no backend takes new connections', () => {
    expect(problems(config([{ ...WEB, backends: [{ ip: '10.1.1.10', weight: 0 }] }]), 'warning')).toEqual([['/loadBalancers/0/backends', 'WARN_LB_NO_BACKENDS']])
    expect(problems(config([{ ...WEB, backends: [] }]), 'warning')).toEqual([['/loadBalancers/0/backends', 'WARN_LB_NO_BACKENDS']])
  })
})

import { describe, expect, it } from 'vitest'
import { emptyConfig, type LoadBalancer, type RouterConfig } from '../../../src/router/model/config.ts'
import { planIpsets } from '../../../src/router/plan/ipset.ts'
import { LB_RUNTIME, probabilityArg } from '../../../src/router/render/iptables/load-balancer.ts'
import { renderFiles, renderRouter } from '../../../src/router/render/index.ts'

const FACTS = { links: [{ name: 'eth1', mac: '02:00:00:00:00:01' }, { name: 'eth2', mac: '02:00:00:00:00:02' }], controlPorts: [] }

function config(lb: Partial<LoadBalancer>, extra: Partial<RouterConfig> = {}): RouterConfig {
  return {
    ...emptyConfig(),
    interfaces: [{ id: 'g', role: 'guest', mac: '02:00:00:00:00:01' }, { id: 'p', role: 'public', mac: '02:00:00:00:00:02' }],
    publicIps: [{ id: 'ip', ip: '203.0.113.10', prefixLength: 24, interface: 'p', sourceNat: true }],
    guestNetworks: [{ id: 'n', interface: 'g', cidr: '10.1.1.0/24', routerIp: '10.1.1.1' }],
    loadBalancers: [{
      id: 'web', publicIp: '203.0.113.10', protocol: 'tcp', publicPorts: { start: 80 }, privatePorts: { start: 8080 },
      backends: [{ ip: '10.1.1.10' }, { ip: '10.1.1.11' }, { ip: '10.1.1.12' }], ...lb,
    }],
    ...extra,
  }
}

/** The DNAT targets the load balancer's chain spreads new connections over, in rule order (affinity rules left out). */
function spreadTargets(text: string): string[] {
  const chains = new Map<string, string>()
  for (const m of text.matchAll(/^-A (SVM-LBB-\S+) .*-j DNAT --to-destination (\S+)$/gm)) chains.set(m[1] as string, m[2] as string)
  return [...text.matchAll(/^-A SVM-LB-\S+ (?!-m set).*-j (SVM-LBB-\S+)$/gm)].map((m) => chains.get(m[1] as string) ?? '?')
}

const rules = (c: RouterConfig, runtime = {}) => renderFiles(renderRouter(c, FACTS, 'router', runtime))['iptables.rules'] as string

describe('load balancer rendering', () => {
  it('probabilities are written as iptables-save prints them back (31-bit fractions, 11 digits)', () => {
    expect(probabilityArg(1 / 3)).toBe('0.33333333349')
    expect(probabilityArg(0.75)).toBe('0.75000000000')
    expect(probabilityArg(0.2)).toBe('0.20000000019')
  })

  it('backends reported down and drained ones are out of the spread; their chains go when nothing jumps to them', () => {
    const text = rules(config({ backends: [{ ip: '10.1.1.10' }, { ip: '10.1.1.11', weight: 0 }, { ip: '10.1.1.12' }] }), { [LB_RUNTIME]: { down: ['web 10.1.1.12:8080'] } })
    expect(spreadTargets(text)).toEqual(['10.1.1.10:8080'])
    expect(text).not.toContain('--to-destination 10.1.1.11:8080')
    expect(text).not.toContain('--to-destination 10.1.1.12:8080')
  })

  it('with affinity a drained backend keeps its clients (HAProxy drain), a down one loses them', () => {
    const text = rules(config({ algorithm: 'source', backends: [{ ip: '10.1.1.10' }, { ip: '10.1.1.11', weight: 0 }, { ip: '10.1.1.12' }] }), { [LB_RUNTIME]: { down: ['web 10.1.1.12:8080'] } })
    expect(text.match(/--match-set svm-lba-\S+ src/g)?.length).toBe(2)
    expect(text).toContain('--to-destination 10.1.1.11:8080')
    expect(text).not.toContain('--to-destination 10.1.1.12:8080')
  })

  it('leastconn spreads by the weights the service steers, falling back to the configured ones', () => {
    const c = config({ algorithm: 'leastconn' })
    expect(rules(c)).toContain('--mode nth --every 3 --packet 0')
    const steered = rules(c, { [LB_RUNTIME]: { weights: { 'web 10.1.1.10:8080': 0, 'web 10.1.1.11:8080': 1, 'web 10.1.1.12:8080': 3 } } })
    expect(spreadTargets(steered)).toEqual(['10.1.1.11:8080', '10.1.1.12:8080'])
    expect(steered).toContain('--mode random --probability 0.25000000000')
  })

  it('port ranges map onto each backend from its own first port', () => {
    const text = rules(config({ publicPorts: { start: 9000, end: 9002 }, privatePorts: { start: 7000, end: 7002 }, backends: [{ ip: '10.1.1.10' }, { ip: '10.1.1.11', port: 8000 }] }))
    expect(spreadTargets(text)).toEqual(['10.1.1.10:7000-7002/9000', '10.1.1.11:8000-8002/9000'])
  })

  it('modes http and tls only open their ports: HAProxy serves them on the public IP', () => {
    const text = rules(config({ mode: 'http' }))
    expect(text).toContain('-m comment --comment svm:lb:web -j ACCEPT')
    expect(text).not.toContain('SVM-LB-')
  })

  it('warns about a backend that is not its VM\'s default NIC, unless the rule source-NATs', () => {
    const hosts = { dhcpHosts: [{ id: 'h', network: 'n', mac: '02:00:00:00:10:11', ip: '10.1.1.11', default: false }] }
    expect(renderRouter(config({}, hosts), FACTS).warnings.map((w) => `${w.path} ${w.code}`)).toEqual(['/loadBalancers/0/backends/1/ip WARN_LB_BACKEND_NOT_DEFAULT_NIC'])
    expect(renderRouter(config({ sourceNat: true }, hosts), FACTS).warnings).toEqual([])
  })
})

describe('kernel-filled sets', () => {
  const spec = { name: 'svm-lba-x', type: 'hash:ip' as const, maxelem: 1024, entries: [], owner: 'lb', timeout: 600, kernelFilled: true }

  it('are created when missing and never emptied: members the kernel added are no change', () => {
    expect(planIpsets(new Map(), [spec], () => true).before).toEqual(['create svm-lba-x hash:ip family inet hashsize 1024 maxelem 1024 timeout 600'])
    expect(planIpsets(new Map([['svm-lba-x', ['192.0.2.10', '192.0.2.11']]]), [spec], () => true)).toMatchObject({ before: [], after: [] })
  })

  it('go with their backend', () => {
    expect(planIpsets(new Map([['svm-lba-x', ['192.0.2.10']]]), [], () => true).after).toEqual(['destroy svm-lba-x'])
  })
})

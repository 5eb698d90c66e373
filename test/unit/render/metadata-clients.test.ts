import { describe, expect, it } from 'vitest'
import { emptyConfig, type RouterConfig } from '../../../src/router/model/config.ts'
import { renderFiles, renderRouter } from '../../../src/router/render/index.ts'
import { metadataChain } from '../../../src/router/render/iptables/metadata-clients.ts'

const facts = { links: [{ name: 'eth1', mac: '02:00:00:00:00:01' }], controlPorts: [] }
const mac = (i: number) => `02:00:00:01:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`

function config(hosts: number, metadata = true): RouterConfig {
  return {
    ...emptyConfig(),
    interfaces: [{ id: 'g', role: 'guest', name: 'eth1' }],
    guestNetworks: [{ id: 'n1', interface: 'g', cidr: '10.8.0.0/20', routerIp: '10.8.0.1', ...(metadata ? {} : { metadata: { enabled: false } }) }],
    dhcpHosts: Array.from({ length: hosts }, (_, i) => ({ id: `h${i}`, network: 'n1', mac: mac(i).toUpperCase(), ip: `10.8.${(i + 2) >> 8}.${(i + 2) & 255}` })),
  }
}

const rulesOf = (text: string, chain: string) => text.split('\n').filter((l) => l.startsWith(`-A ${chain} `))

describe('metadata clients (filter)', () => {
  it('admits each DHCP host by address and MAC, then drops', () => {
    const text = renderFiles(renderRouter(config(2), facts))['iptables.rules']!
    const chain = metadataChain('n1')
    expect(text).toContain(`-d 10.8.0.1/32 -p tcp -m multiport --dports 80,443,8080 -j ${chain}`)
    expect(rulesOf(text, chain)).toEqual([
      `-A ${chain} -s 10.8.0.2/32 -m mac --mac-source 02:00:00:01:00:00 -j ACCEPT`,
      `-A ${chain} -s 10.8.0.3/32 -m mac --mac-source 02:00:00:01:00:01 -j ACCEPT`,
      `-A ${chain} -m comment --comment svm:metadata-spoof:n1 -j DROP`,
    ])
    expect(text).toContain('-i eth1 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -m comment --comment svm:metadata:n1 -j DNAT --to-destination 10.8.0.1:80')
  })

  it('splits thousands of hosts by /26 block: a new connection walks the blocks and one block, never every host', () => {
    const text = renderFiles(renderRouter(config(4000), facts))['iptables.rules']!
    const top = rulesOf(text, metadataChain('n1'))
    expect(top.length).toBe(Math.ceil(4002 / 64) + 1)
    const jumps = top.slice(0, -1).map((l) => / -j (\S+)$/.exec(l)![1]!)
    let admitted = 0
    for (const sub of jumps) {
      const rules = rulesOf(text, sub)
      expect(rules.length).toBeLessThanOrEqual(64)
      admitted += rules.length
    }
    expect(admitted).toBe(4000)
    expect(top[0]).toMatch(/^-A \S+ -s 10\.8\.0\.0\/26 -j SVM-MDB-/)
  })

  it('leaves the ports closed and the address unforwarded when the network serves no metadata', () => {
    const text = renderFiles(renderRouter(config(2, false), facts))['iptables.rules']!
    expect(text).not.toContain(metadataChain('n1'))
    expect(text).not.toContain('169.254.169.254')
    expect(text).not.toContain('8080')
  })
})

import { describe, expect, it } from 'vitest'
import type { Diagnostic } from '../../../src/core/errors.ts'
import { checkConfig, checkIndexed, type CheckScope } from '../../../src/router/model/check.ts'
import { ConfigIndex } from '../../../src/router/model/check/index.ts'
import { COLLECTION_NAMES, type CollectionName, type RouterConfig } from '../../../src/router/model/config.ts'
import type { HostFacts } from '../../../src/router/model/facts.ts'
import { withItem } from '../../../src/router/model/items.ts'
import { fullFixture, randomEdit, richFixture, seeded } from '../../helpers/config-edits.ts'

/**
 * An item-scoped check (checkConfig with { collection, index }) must find what the whole-document
 * check finds for that edit, and cost work that does not grow with collections the item has
 * nothing to do with.
 */

const text = (d: Diagnostic) => `${d.severity} ${d.path} ${d.code}: ${d.message}`
const sorted = (list: Diagnostic[]) => list.map(text).sort()
const errors = (list: Diagnostic[]) => sorted(list.filter((d) => d.severity === 'error'))
const under = (d: Diagnostic, scope: CheckScope) => d.path === `/${scope.collection}/${scope.index}` || d.path.startsWith(`/${scope.collection}/${scope.index}/`)

/** Whether every entry of `part` is in `whole`, counting repeats. */
function isSubMultiset(part: string[], whole: string[]): boolean {
  const left = [...whole]
  return part.every((x) => {
    const at = left.indexOf(x)
    if (at === -1) return false
    left.splice(at, 1)
    return true
  })
}

const FIXTURES: { name: string; load: () => { config: RouterConfig; facts: HostFacts } }[] = [
  { name: 'golden full', load: fullFixture },
  { name: 'rich', load: richFixture },
]

describe('item-scoped check', () => {
  for (const fixture of FIXTURES) {
    it(`the ${fixture.name} fixture has no diagnostics (the properties below start from a clean document)`, () => {
      const { config, facts } = fixture.load()
      expect(checkConfig(config, facts)).toEqual([])
    })
  }

  // From a clean document every problem after one edit involves the edited item, so the scoped
  // check (the edited item, what it conflicts with, what refers to it) must find all of them.
  for (const collection of COLLECTION_NAMES) {
    it(`${collection}: for 400 random edits of a clean document, scoped diagnostics equal the whole check's`, () => {
      const random = seeded(collection.length * 7919 + collection.charCodeAt(0))
      let refused = 0
      for (let n = 0; n < 400; n++) {
        const { config, facts } = (n % 2 === 0 ? fullFixture : richFixture)()
        const edit = randomEdit(config, facts, random, collection)
        const whole = checkConfig(edit.next, facts)
        const scoped = checkConfig(edit.next, facts, edit.scope)
        expect(sorted(scoped), `${JSON.stringify(edit.scope)} → ${JSON.stringify(edit.item)}`).toEqual(sorted(whole))
        if (whole.some((d) => d.severity === 'error')) refused++
      }
      // The edits must exercise the checks, not only pass them. A group is its id alone: only
      // removing one still in use is refused (about 1 edit in 20).
      expect(refused).toBeGreaterThan(collection === 'securityGroups' ? 10 : 40)
    })
  }

  it('along 3,000 edits applied the way the engine applies them (kept only when valid), scoped errors equal whole errors', () => {
    const random = seeded(42)
    let { config, facts } = richFixture()
    let kept = 0
    for (let n = 0; n < 3000; n++) {
      if (n % 500 === 0) ({ config, facts } = (n % 1000 === 0 ? richFixture : fullFixture)())
      const edit = randomEdit(config, facts, random)
      const whole = checkConfig(edit.next, facts)
      const scoped = checkConfig(edit.next, facts, edit.scope)
      expect(errors(scoped), JSON.stringify(edit.scope)).toEqual(errors(whole))
      expect(isSubMultiset(sorted(scoped), sorted(whole))).toBe(true)
      if (!whole.some((d) => d.severity === 'error')) {
        config = edit.next
        kept++
      }
    }
    expect(kept).toBeGreaterThan(500)
  })

  it('on documents that already have errors, a scoped check reports a subset of the whole check and all of it at the edited item', () => {
    const random = seeded(7)
    let { config, facts } = richFixture()
    for (let n = 0; n < 3000; n++) {
      if (n % 60 === 0) ({ config, facts } = richFixture())
      const edit = randomEdit(config, facts, random)
      const whole = checkConfig(edit.next, facts)
      const scoped = checkConfig(edit.next, facts, edit.scope)
      expect(isSubMultiset(sorted(scoped), sorted(whole)), JSON.stringify(edit.scope)).toBe(true)
      if (edit.item !== null) expect(sorted(scoped.filter((d) => under(d, edit.scope)))).toEqual(sorted(whole.filter((d) => under(d, edit.scope))))
      config = edit.next
    }
  })

  const cases: { name: string; edit: (c: RouterConfig) => { next: RouterConfig; scope: CheckScope }; expect: string[] }[] = [
    {
      name: 'removing the interface a guest network is on is refused at the network',
      edit: (c) => ({ next: withItem(c, 'interfaces', 'guest1', null), scope: { collection: 'interfaces', index: 1, previous: c.interfaces[1], removed: true } }),
      expect: ['/guestNetworks/0/interface ERR_UNKNOWN_INTERFACE'],
    },
    {
      name: 'removing a guest network is refused at its egress rules, DHCP hosts and VM data, and where forwards, static NAT and load-balancer backends point into it',
      edit: (c) => ({ next: withItem(c, 'guestNetworks', 'net1', null), scope: { collection: 'guestNetworks', index: 0, previous: c.guestNetworks[0], removed: true } }),
      expect: [
        '/dhcpHosts/0/network ERR_UNKNOWN_NETWORK', '/egressRules/0/network ERR_UNKNOWN_NETWORK', '/egressRules/1/network ERR_UNKNOWN_NETWORK',
        '/egressRules/2/network ERR_UNKNOWN_NETWORK', '/portForwards/0/privateIp ERR_ADDRESS_OUTSIDE_NETWORK', '/portForwards/1/privateIp ERR_ADDRESS_OUTSIDE_NETWORK',
        '/portForwards/2/privateIp ERR_ADDRESS_OUTSIDE_NETWORK', '/portForwards/3/privateIp ERR_ADDRESS_OUTSIDE_NETWORK', '/portForwards/4/privateIp ERR_ADDRESS_OUTSIDE_NETWORK',
        '/staticNats/0/privateIp ERR_ADDRESS_OUTSIDE_NETWORK', '/staticRoutes/0/via ERR_UNREACHABLE_NEXT_HOP', '/vmData/0/network ERR_UNKNOWN_NETWORK',
        ...[[0, 4], [1, 3], [2, 2]].flatMap(([i, n]) => Array.from({ length: n as number }, (_, k) => `/loadBalancers/${i}/backends/${k}/ip ERR_ADDRESS_OUTSIDE_NETWORK`)),
      ].sort(),
    },
    {
      name: 'moving a public IP to another address leaves what used the old one pointing nowhere',
      edit: (c) => {
        const previous = c.publicIps[1]!
        return { next: withItem(c, 'publicIps', previous.id, { ...previous, ip: '203.0.113.21' }), scope: { collection: 'publicIps', index: 1, previous } }
      },
      expect: ['/firewallRules/0/publicIp ERR_UNKNOWN_PUBLIC_IP', '/firewallRules/1/publicIp ERR_UNKNOWN_PUBLIC_IP', '/staticNats/0/publicIp ERR_UNKNOWN_PUBLIC_IP'],
    },
    {
      name: 'a forward added before the ports of a later one is reported where the whole check reports it: on the later forward',
      edit: (c) => {
        const moved = { ...c.portForwards[2]!, publicPorts: { start: 2000, end: 2300 }, privatePorts: { start: 2000, end: 2300 } }
        return { next: withItem(c, 'portForwards', moved.id, moved), scope: { collection: 'portForwards', index: 2, previous: c.portForwards[2] } }
      },
      expect: ['/portForwards/0/publicPorts ERR_PORT_FORWARD_OVERLAP'],
    },
    {
      name: 'a public IP taking the address of a later one takes its place: the later subnet is no longer connected, nor a subnet of its interface',
      edit: (c) => {
        c.interfaces[3] = { ...c.interfaces[3]!, gateway: '192.0.7.1' }
        c.publicIps.push({ id: 'spare', ip: '203.0.113.30', prefixLength: 24, interface: 'pub0' }, { id: 'wide', ip: '192.0.2.50', prefixLength: 16, interface: 'pub1' })
        c.staticRoutes.push({ id: 'rt-wide', cidr: '10.99.0.0/16', via: '192.0.7.1' })
        expect(checkConfig(c, undefined)).toEqual([])
        const previous = c.publicIps[4]!
        return { next: withItem(c, 'publicIps', 'spare', { ...previous, ip: '192.0.2.50' }), scope: { collection: 'publicIps', index: 4, previous } }
      },
      expect: ['/interfaces/3/gateway WARN_GATEWAY_OFF_NETWORK', '/publicIps/5/ip ERR_DUPLICATE_ADDRESS', '/staticRoutes/1/via ERR_UNREACHABLE_NEXT_HOP'],
    },
    {
      name: 'removing the default interface is refused at defaultInterface',
      edit: (c) => {
        c.defaultInterface = 'pub1'
        return { next: withItem(c, 'interfaces', 'pub1', null), scope: { collection: 'interfaces', index: 3, previous: c.interfaces[3], removed: true } }
      },
      expect: ['/defaultInterface ERR_UNKNOWN_INTERFACE', '/publicIps/3/interface ERR_UNKNOWN_INTERFACE'],
    },
    {
      name: 'an item whose id a later item repeats (a document not made by item edits): the later one is reported',
      edit: (c) => {
        const next = { ...c, firewallRules: [...c.firewallRules, { ...c.firewallRules[0]! }] }
        return { next, scope: { collection: 'firewallRules', index: 0 } }
      },
      expect: ['/firewallRules/4/id ERR_DUPLICATE_ID'],
    },
    {
      name: 'removing a leaf item checks nothing',
      edit: (c) => ({ next: withItem(c, 'portForwards', 'pf-ssh', null), scope: { collection: 'portForwards', index: 0, previous: c.portForwards[0], removed: true } }),
      expect: [],
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const { config, facts } = fullFixture()
      const { next, scope } = c.edit(config)
      const scoped = checkConfig(next, facts, scope).map((d) => `${d.path} ${d.code}`)
      expect(scoped.sort()).toEqual(c.expect)
      expect(checkConfig(next, facts).map((d) => `${d.path} ${d.code}`).sort()).toEqual(c.expect)
    })
  }
})

/** Items for growing one collection without touching the fixture's items (they may be invalid: only the cost is asked). */
const GROW: { [C in CollectionName]?: (i: number) => RouterConfig[C][number] } = {
  publicIps: (i) => ({ id: `g-ip-${i}`, ip: `198.18.${i >> 8}.${(i & 255) + 1}`, prefixLength: 15, interface: 'pub1' }),
  staticNats: (i) => ({ id: `g-sn-${i}`, publicIp: `198.18.${i >> 8}.${(i & 255) + 1}`, privateIp: `10.9.${i >> 8}.${i & 255}` }),
  portForwards: (i) => ({ id: `g-pf-${i}`, publicIp: '203.0.113.12', protocol: 'tcp', publicPorts: { start: 30000 + i }, privateIp: '10.1.1.10', privatePorts: { start: 30000 + i } }),
  firewallRules: (i) => ({ id: `g-fw-${i}`, publicIp: '203.0.113.10', protocol: 'tcp', ports: { start: 1000 + i } }),
  egressRules: (i) => ({ id: `g-eg-${i}`, network: 'net1', protocol: 'tcp', ports: { start: 1000 + i } }),
  staticRoutes: (i) => ({ id: `g-rt-${i}`, cidr: `100.64.${i >> 8}.${i & 255}/32`, via: '10.1.1.254' }),
  vmData: (i) => ({ id: `g-vm-${i}`, network: 'net1', ip: `10.9.${i >> 8}.${i & 255}` }),
  loadBalancers: (i) => ({ id: `g-lb-${i}`, publicIp: '203.0.113.12', protocol: 'tcp', publicPorts: { start: 40000 + i }, privatePorts: { start: 80 }, backends: [{ ip: '10.1.1.10' }] }),
  dhcpHosts: (i) => ({ id: `g-h-${i}`, network: 'net1', mac: `02:00:00:01:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, ip: `10.9.${i >> 8}.${i & 255}` }),
}

/** Per edited collection, the collections its items neither conflict with nor are referred to by. */
const UNRELATED: Record<CollectionName, CollectionName[]> = {
  interfaces: ['firewallRules', 'egressRules', 'dhcpHosts'],
  publicIps: ['egressRules', 'dhcpHosts'],
  guestNetworks: ['firewallRules'],
  staticNats: ['firewallRules', 'egressRules', 'staticRoutes', 'dhcpHosts'],
  portForwards: ['firewallRules', 'egressRules', 'staticRoutes', 'dhcpHosts'],
  firewallRules: ['portForwards', 'egressRules', 'staticNats', 'staticRoutes', 'dhcpHosts', 'loadBalancers'],
  egressRules: ['publicIps', 'portForwards', 'firewallRules', 'staticNats', 'staticRoutes', 'dhcpHosts', 'loadBalancers'],
  staticRoutes: ['portForwards', 'firewallRules', 'egressRules', 'staticNats', 'dhcpHosts', 'loadBalancers'],
  dhcpHosts: ['publicIps', 'portForwards', 'firewallRules', 'egressRules', 'staticNats', 'staticRoutes', 'loadBalancers'],
  vmData: ['publicIps', 'portForwards', 'firewallRules', 'egressRules', 'staticNats', 'staticRoutes', 'dhcpHosts', 'loadBalancers'],
  loadBalancers: ['firewallRules', 'egressRules', 'staticRoutes', 'dhcpHosts', 'vmData'],
  internalSites: ['publicIps', 'guestNetworks', 'portForwards', 'firewallRules', 'egressRules', 'staticNats', 'staticRoutes', 'dhcpHosts', 'vmData', 'loadBalancers'],
  ports: ['publicIps', 'guestNetworks', 'portForwards', 'firewallRules', 'staticRoutes', 'dhcpHosts', 'loadBalancers'],
  securityGroups: ['publicIps', 'guestNetworks', 'portForwards', 'firewallRules', 'staticRoutes', 'dhcpHosts', 'loadBalancers'],
  securityGroupRules: ['publicIps', 'guestNetworks', 'portForwards', 'firewallRules', 'staticRoutes', 'dhcpHosts', 'loadBalancers'],
}

function grown(config: RouterConfig, collections: readonly CollectionName[], n: number): RouterConfig {
  const out = { ...config } as Record<CollectionName, unknown[]>
  for (const c of collections) out[c] = [...config[c], ...Array.from({ length: n }, (_, i) => GROW[c]?.(i))]
  return out as unknown as RouterConfig
}

describe('cost of an item-scoped check', () => {
  for (const collection of COLLECTION_NAMES) {
    it(`${collection}: the work of checking one item does not change when ${UNRELATED[collection].join(', ')} grow from 0 to 2,000 items`, () => {
      const { config, facts } = richFixture()
      const scope: CheckScope = { collection, index: 0, previous: config[collection][0] }
      const measure = (doc: RouterConfig) => {
        const ix = new ConfigIndex(doc, facts)
        const diagnostics = checkIndexed(ix, scope)
        return { work: ix.work, diagnostics: diagnostics.map(text) }
      }
      const small = measure(config)
      const large = measure(grown(config, UNRELATED[collection], 2000))
      expect(large).toEqual(small)
      expect(small.work).toBeGreaterThan(0)
    })
  }

  it('while the whole check visits every item of every collection', () => {
    const { config, facts } = richFixture()
    const work = (doc: RouterConfig) => {
      const ix = new ConfigIndex(doc, facts)
      checkIndexed(ix)
      return ix.work
    }
    expect(work(grown(config, ['portForwards', 'dhcpHosts'], 2000)) - work(config)).toBeGreaterThanOrEqual(4000)
  })
})

import { describe, expect, it } from 'vitest'
import { decodeDhcp, encodeDhcp, FLAG_BROADCAST, MessageType, Opt, optionAddress, type DhcpMessage } from '../../../src/router/services/dhcp/codec.ts'
import { applyLeaseChange, LeaseTable, QUARANTINE_MAX } from '../../../src/router/services/dhcp/lease-table.ts'
import { decide, leaseStillValid, type Decision } from '../../../src/router/services/dhcp/machine.ts'
import { compileScopes, type DhcpScope } from '../../../src/router/services/dhcp/scope.ts'
import { emptyConfig, type RouterConfig } from '../../../src/router/model/config.ts'
import { parseIpv4 } from '../../../src/core/ipv4.ts'

const ip = (t: string) => parseIpv4(t) as number
const facts = { links: [{ name: 'eth1', mac: '02:00:00:00:00:02', ifindex: 3 }], controlPorts: [] }

function config(extra: Partial<RouterConfig['guestNetworks'][number]> = {}): RouterConfig {
  return {
    ...emptyConfig(),
    interfaces: [{ id: 'guest', role: 'guest', mac: '02:00:00:00:00:02', mtu: 1450 }],
    guestNetworks: [{ id: 'net1', interface: 'guest', cidr: '10.1.1.0/24', routerIp: '10.1.1.1', domain: 'cloud.internal', dnsServers: ['192.0.2.53'], ...extra }],
    dhcpHosts: [
      { id: 'vm1', network: 'net1', mac: '02:00:00:00:10:01', ip: '10.1.1.10', hostname: 'vm-one', staticRoutes: [{ destination: '172.16.0.0/12', gateway: '10.1.1.254' }] },
      { id: 'vm2', network: 'net1', mac: '02:00:00:00:10:02', ip: '10.1.1.11', hostname: 'vm-two', default: false },
    ],
  }
}

function scopeOf(c: RouterConfig): DhcpScope {
  return compileScopes(c, facts)[0] as DhcpScope
}

let xid = 1
function request(mac: string, type: number, opts: { requested?: string; server?: string; ciaddr?: string; giaddr?: string; flags?: number; params?: number[]; clientId?: number[] } = {}): DhcpMessage {
  const chaddr = new Uint8Array(16)
  chaddr.set(mac.split(':').map((h) => parseInt(h, 16)))
  const options = new Map<number, Uint8Array>([[Opt.MessageType, Uint8Array.of(type)]])
  const addr = (t: string) => { const a = ip(t); return Uint8Array.of(a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255) }
  if (opts.requested) options.set(Opt.RequestedIp, addr(opts.requested))
  if (opts.server) options.set(Opt.ServerId, addr(opts.server))
  if (opts.params) options.set(Opt.ParameterList, Uint8Array.from(opts.params))
  if (opts.clientId) options.set(Opt.ClientId, Uint8Array.from(opts.clientId))
  // Through the wire format, as the server sees it.
  return decodeDhcp(encodeDhcp({
    op: 1, htype: 1, hlen: 6, hops: 0, xid: xid++, secs: 0, flags: opts.flags ?? 0,
    ciaddr: opts.ciaddr ? ip(opts.ciaddr) : 0, yiaddr: 0, siaddr: 0, giaddr: opts.giaddr ? ip(opts.giaddr) : 0, chaddr, options,
  }))
}

function run(scope: DhcpScope, table: LeaseTable, req: DhcpMessage, now = 1_000_000, source = 0): Decision {
  const d = decide(req, scope, table, now, source)
  if (d.change) applyLeaseChange(table, d.change)
  return d
}

const typeOf = (d: Decision) => d.reply?.options.get(Opt.MessageType)?.[0]
const bytes = (d: Decision, code: number) => [...(d.reply?.options.get(code) ?? [])]

describe('DHCP state machine', () => {
  const VM1 = '02:00:00:00:10:01'
  const VM2 = '02:00:00:00:10:02'

  it('offers and acks a static host with every option, T1 < T2 < lease', () => {
    const scope = scopeOf(config())
    const table = new LeaseTable()
    const offer = run(scope, table, request(VM1, MessageType.Discover, { flags: FLAG_BROADCAST }))
    expect(offer.outcome).toBe('offer')
    expect(offer.reply?.yiaddr).toBe(ip('10.1.1.10'))
    expect(offer.to).toEqual({ address: 0xffffffff, port: 68, broadcast: true })
    const ack = run(scope, table, request(VM1, MessageType.Request, { requested: '10.1.1.10', server: '10.1.1.1' }))
    expect(typeOf(ack)).toBe(MessageType.Ack)
    expect(bytes(ack, Opt.SubnetMask)).toEqual([255, 255, 255, 0])
    expect(bytes(ack, Opt.Router)).toEqual([10, 1, 1, 1])
    expect(bytes(ack, Opt.DnsServers)).toEqual([10, 1, 1, 1])
    expect(bytes(ack, Opt.Broadcast)).toEqual([10, 1, 1, 255])
    expect(bytes(ack, Opt.InterfaceMtu)).toEqual([0x05, 0xaa])
    expect(String.fromCharCode(...bytes(ack, Opt.DomainName))).toBe('cloud.internal')
    expect(String.fromCharCode(...bytes(ack, Opt.Hostname))).toBe('vm-one')
    // Option 121 carries the host route and the default route (clients ignore option 3 then).
    expect(bytes(ack, Opt.ClasslessRoutes)).toEqual([12, 172, 16, 10, 1, 1, 254, 0, 10, 1, 1, 1])
    const u32 = (code: number) => optionAddress(ack.reply as DhcpMessage, code) as number
    expect(u32(Opt.LeaseTime)).toBe(86400)
    expect(u32(Opt.RenewalTime)).toBe(43200)
    expect(u32(Opt.RebindingTime)).toBe(75600)
    expect(ack.change).toMatchObject({ kind: 'bind', durable: false })
  })

  it('gives a non-default NIC no router, DNS or domain', () => {
    const ack = run(scopeOf(config()), new LeaseTable(), request(VM2, MessageType.Request, { requested: '10.1.1.11', server: '10.1.1.1' }))
    expect(typeOf(ack)).toBe(MessageType.Ack)
    expect(ack.reply?.options.has(Opt.Router)).toBe(false)
    expect(ack.reply?.options.has(Opt.DnsServers)).toBe(false)
    expect(ack.reply?.options.has(Opt.DomainName)).toBe(false)
    expect(bytes(ack, Opt.SubnetMask)).toEqual([255, 255, 255, 0])
  })

  it('ignores unknown MACs when the network has no range', () => {
    expect(run(scopeOf(config()), new LeaseTable(), request('02:00:00:00:99:99', MessageType.Discover)).outcome).toBe('ignored-unknown-client')
  })

  it('naks a wrong requested address in SELECTING and INIT-REBOOT, stays silent for another server', () => {
    const scope = scopeOf(config())
    const table = new LeaseTable()
    const wrong = run(scope, table, request(VM1, MessageType.Request, { requested: '10.1.1.50', server: '10.1.1.1' }))
    expect(wrong.outcome).toBe('nak')
    expect(wrong.to?.broadcast).toBe(true)
    expect(run(scope, table, request(VM1, MessageType.Request, { requested: '10.1.1.50' })).outcome).toBe('nak')
    expect(run(scope, table, request(VM1, MessageType.Request, { requested: '192.168.9.9' })).reason).toBe('wrong network')
    expect(run(scope, table, request(VM1, MessageType.Request, { requested: '10.1.1.10', server: '10.1.1.2' })).outcome).toBe('ignored-other-server')
    expect(run(scope, table, request(VM1, MessageType.Request, { requested: '10.1.1.10' })).outcome).toBe('ack')
  })

  it('acks a renewal by unicast and naks it once the address changed in the config', () => {
    const table = new LeaseTable()
    run(scopeOf(config()), table, request(VM1, MessageType.Request, { requested: '10.1.1.10', server: '10.1.1.1' }))
    const renew = run(scopeOf(config()), table, request(VM1, MessageType.Request, { ciaddr: '10.1.1.10' }))
    expect(renew.outcome).toBe('ack')
    expect(renew.to).toEqual({ address: ip('10.1.1.10'), port: 68, broadcast: false })
    expect(renew.reply?.ciaddr).toBe(ip('10.1.1.10'))
    const changed = config()
    changed.dhcpHosts = changed.dhcpHosts.map((h) => (h.id === 'vm1' ? { ...h, ip: '10.1.1.20' } : h))
    const scope = scopeOf(changed)
    const lease = table.byClient('net1', VM1)
    expect(lease !== undefined && leaseStillValid(scope, lease)).toBe(false)
    expect(run(scope, table, request(VM1, MessageType.Request, { ciaddr: '10.1.1.10' })).outcome).toBe('nak')
  })

  it('hands out a dynamic range, persists new bindings durably, skips static and quarantined addresses', () => {
    const scope = scopeOf(config({ dhcp: { range: { start: '10.1.1.10', end: '10.1.1.13' } } }))
    const table = new LeaseTable()
    const a = '02:00:00:00:20:01'
    const b = '02:00:00:00:20:02'
    const offerA = run(scope, table, request(a, MessageType.Discover))
    expect(offerA.reply?.yiaddr).toBe(ip('10.1.1.12')) // .10 and .11 are static hosts'
    expect(offerA.change?.kind).toBe('offer')
    const offerB = run(scope, table, request(b, MessageType.Discover))
    expect(offerB.reply?.yiaddr).toBe(ip('10.1.1.13')) // .12 is held for a
    const ackA = run(scope, table, request(a, MessageType.Request, { requested: '10.1.1.12', server: '10.1.1.1' }))
    expect(ackA.change).toMatchObject({ kind: 'bind', durable: true })
    const renewA = run(scope, table, request(a, MessageType.Request, { ciaddr: '10.1.1.12' }))
    expect(renewA.change).toMatchObject({ kind: 'bind', durable: false })
    // b declines .13: quarantined, and b gets nothing more (the range is full).
    expect(run(scope, table, request(b, MessageType.Decline, { requested: '10.1.1.13', server: '10.1.1.1' })).outcome).toBe('decline')
    expect(run(scope, table, request(b, MessageType.Discover)).outcome).toBe('ignored-no-address')
    // a releases: .12 is free for b.
    expect(run(scope, table, request(a, MessageType.Release, { ciaddr: '10.1.1.12', server: '10.1.1.1' }), 1_000_000, ip('10.1.1.12')).outcome).toBe('release')
    expect(run(scope, table, request(b, MessageType.Discover)).reply?.yiaddr).toBe(ip('10.1.1.12'))
    // After the quarantine and the offer hold, .13 comes back.
    expect(run(scope, table, request(a, MessageType.Discover), 1_000_000 + 700_000).reply?.yiaddr).toBe(ip('10.1.1.12'))
  })

  it('answers INFORM without a lease time, and relayed requests via the relay agent', () => {
    const scope = scopeOf(config())
    const inform = run(scope, new LeaseTable(), request(VM1, MessageType.Inform, { ciaddr: '10.1.1.10' }))
    expect(inform.outcome).toBe('inform')
    expect(inform.reply?.options.has(Opt.LeaseTime)).toBe(false)
    expect(inform.reply?.yiaddr).toBe(0)
    const relayed = run(scope, new LeaseTable(), request(VM1, MessageType.Discover, { giaddr: '10.1.1.254' }))
    expect(relayed.to).toEqual({ address: ip('10.1.1.254'), port: 67, broadcast: false })
    expect(relayed.reply?.giaddr).toBe(ip('10.1.1.254'))
    const nak = run(scope, new LeaseTable(), request(VM1, MessageType.Request, { requested: '10.1.1.99', giaddr: '10.1.1.254' }))
    expect((nak.reply?.flags ?? 0) & FLAG_BROADCAST).toBe(FLAG_BROADCAST)
  })

  it("hands out a shared network's own gateway and DNS servers in the DHCP-only role", () => {
    const c = config({ dhcp: { gateway: '10.1.1.254', dnsServers: ['192.0.2.53', '192.0.2.54'] }, dns: { enabled: false } })
    c.dhcpHosts = c.dhcpHosts.map((h) => ({ ...h, staticRoutes: [] }))
    const ack = run(scopeOf(c), new LeaseTable(), request(VM1, MessageType.Request, { requested: '10.1.1.10', server: '10.1.1.1' }))
    expect(bytes(ack, Opt.Router)).toEqual([10, 1, 1, 254])
    expect(bytes(ack, Opt.DnsServers)).toEqual([192, 0, 2, 53, 192, 0, 2, 54])
    expect(bytes(ack, Opt.ServerId)).toEqual([10, 1, 1, 1])
    // The metadata address is this appliance, not the gateway: option 121 says so, with the default route.
    expect(bytes(ack, Opt.ClasslessRoutes)).toEqual([32, 169, 254, 169, 254, 10, 1, 1, 1, 0, 10, 1, 1, 254])
    const off = config({ dhcp: { gateway: '10.1.1.254' }, metadata: { enabled: false } })
    off.dhcpHosts = c.dhcpHosts
    expect(run(scopeOf(off), new LeaseTable(), request(VM1, MessageType.Request, { requested: '10.1.1.10', server: '10.1.1.1' })).reply?.options.has(Opt.ClasslessRoutes)).toBe(false)
  })

  it('with DNS off and no DHCP DNS list, hands out the upstream resolvers', () => {
    const ack = run(scopeOf(config({ dns: { enabled: false } })), new LeaseTable(), request(VM2, MessageType.Request, { requested: '10.1.1.11', server: '10.1.1.1' }))
    expect(ack.reply?.options.has(Opt.DnsServers)).toBe(false) // vm2 is a non-default NIC
    const ack1 = run(scopeOf(config({ dns: { enabled: false } })), new LeaseTable(), request(VM1, MessageType.Request, { requested: '10.1.1.10', server: '10.1.1.1' }))
    expect(bytes(ack1, Opt.DnsServers)).toEqual([192, 0, 2, 53])
  })

  it('sends an infinite lease without T1/T2', () => {
    const ack = run(scopeOf(config({ dhcp: { leaseSeconds: 4294967295 } })), new LeaseTable(), request(VM1, MessageType.Request, { requested: '10.1.1.10', server: '10.1.1.1' }))
    expect(optionAddress(ack.reply as DhcpMessage, Opt.LeaseTime)).toBe(4294967295)
    expect(ack.reply?.options.has(Opt.RenewalTime)).toBe(false)
  })

  it('drops unrequested options to fit a small maximum message size', () => {
    const big = config({ dhcp: { searchDomains: Array.from({ length: 16 }, (_, i) => `department-${i}-with-a-long-name.example${i}.org`) } })
    const ack = run(scopeOf(big), new LeaseTable(), request(VM1, MessageType.Request, { requested: '10.1.1.10', server: '10.1.1.1', params: [1, 3, 6] }))
    expect(ack.outcome).toBe('ack')
    expect(encodeDhcp(ack.reply as DhcpMessage).length).toBeLessThanOrEqual(548)
    expect(ack.reply?.options.has(Opt.DomainSearch)).toBe(false)
  })

  describe('forged DECLINE and RELEASE, and where replies go', () => {
    const A = '02:00:00:00:20:01'
    const B = '02:00:00:00:20:02'
    const dynamic = () => scopeOf(config({ dhcp: { range: { start: '10.1.1.100', end: '10.1.1.199' } } }))
    const bindTo = (scope: DhcpScope, table: LeaseTable, mac: string) => {
      const offer = run(scope, table, request(mac, MessageType.Discover))
      const addr = offer.reply?.yiaddr as number
      run(scope, table, request(mac, MessageType.Request, { requested: [addr >>> 24, (addr >>> 16) & 255, (addr >>> 8) & 255, addr & 255].join('.'), server: '10.1.1.1' }))
      return addr
    }
    const dotted = (a: number) => [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.')

    it("a DECLINE naming another client's address changes nothing: no quarantine, the victim keeps its lease", () => {
      const scope = dynamic()
      const table = new LeaseTable()
      const victim = bindTo(scope, table, A)
      const d = run(scope, table, request(B, MessageType.Decline, { requested: dotted(victim), server: '10.1.1.1' }))
      expect(d.outcome).toBe('ignored-decline-mismatch')
      expect(d.change).toBeUndefined()
      expect(table.quarantinedUntil('net1', victim)).toBeUndefined()
      expect(table.byClient('net1', A)?.ip).toBe(victim)
    })

    it('a DECLINE of a static address or one outside the range quarantines nothing', () => {
      const scope = dynamic()
      const table = new LeaseTable()
      bindTo(scope, table, A)
      for (const addr of ['10.1.1.10', '10.1.1.1', '10.1.1.250', '192.0.2.1']) {
        const d = run(scope, table, request(A, MessageType.Decline, { requested: addr, server: '10.1.1.1' }))
        expect(d.change, addr).toBeUndefined()
        expect(table.quarantinedUntil('net1', ip(addr)), addr).toBeUndefined()
      }
    })

    it("a DECLINE of the sender's own offered or bound address quarantines it and drops the lease", () => {
      const scope = dynamic()
      const table = new LeaseTable()
      const offered = run(scope, table, request(B, MessageType.Discover)).reply?.yiaddr as number
      expect(run(scope, table, request(B, MessageType.Decline, { requested: dotted(offered), server: '10.1.1.1' })).outcome).toBe('decline')
      expect(table.quarantinedUntil('net1', offered)).toBeGreaterThan(1_000_000)
      const bound = bindTo(scope, table, A)
      expect(run(scope, table, request(A, MessageType.Decline, { requested: dotted(bound), server: '10.1.1.1' })).outcome).toBe('decline')
      expect(table.byClient('net1', A)).toBeUndefined()
    })

    it('the quarantine table of a network is bounded: the oldest entries go first', () => {
      const scope = scopeOf(config({ dhcp: { range: { start: '10.1.0.2', end: '10.1.1.254' } }, cidr: '10.1.0.0/23' }))
      const table = new LeaseTable()
      const declined: number[] = []
      for (let i = 0; i < QUARANTINE_MAX + 10; i++) {
        const mac = `02:00:00:01:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`
        const offered = run(scope, table, request(mac, MessageType.Discover)).reply?.yiaddr as number
        run(scope, table, request(mac, MessageType.Decline, { requested: dotted(offered), server: '10.1.1.1' }))
        declined.push(offered)
      }
      expect(table.quarantineSize('net1')).toBe(QUARANTINE_MAX)
      expect(table.quarantinedUntil('net1', declined.at(-1) as number)).toBeDefined()
    })

    it('a RELEASE counts only when it comes from ciaddr and matches the lease', () => {
      const scope = dynamic()
      const table = new LeaseTable()
      const addr = bindTo(scope, table, A)
      // Broadcast from 0.0.0.0, or from another address of the network: a forgery.
      expect(run(scope, table, request(A, MessageType.Release, { ciaddr: dotted(addr), server: '10.1.1.1' }), 1_000_000, 0).outcome).toBe('ignored-release-mismatch')
      expect(run(scope, table, request(A, MessageType.Release, { ciaddr: dotted(addr), server: '10.1.1.1' }), 1_000_000, ip('10.1.1.11')).outcome).toBe('ignored-release-mismatch')
      // From the address, but naming another client's lease.
      expect(run(scope, table, request(B, MessageType.Release, { ciaddr: dotted(addr), server: '10.1.1.1' }), 1_000_000, addr).outcome).toBe('ignored-release-mismatch')
      expect(table.byClient('net1', A)?.ip).toBe(addr)
      expect(run(scope, table, request(A, MessageType.Release, { ciaddr: dotted(addr), server: '10.1.1.1' }), 1_000_000, addr).outcome).toBe('release')
      expect(table.byClient('net1', A)).toBeUndefined()
    })

    it("ignores a DISCOVER's ciaddr and unicasts only to an address known to be the client's", () => {
      const scope = dynamic()
      const table = new LeaseTable()
      const offer = run(scope, table, request(A, MessageType.Discover, { ciaddr: '192.0.2.99' }))
      expect(offer.to).toEqual({ address: 0xffffffff, port: 68, broadcast: true })
      // SELECTING with a forged ciaddr: the ACK is broadcast, not sent to 192.0.2.99.
      const ack = run(scope, table, request(A, MessageType.Request, { requested: dotted(offer.reply?.yiaddr as number), server: '10.1.1.1', ciaddr: '192.0.2.99' }))
      expect(ack.outcome).toBe('ack')
      expect(ack.to?.broadcast).toBe(true)
      // INFORM from another source than its ciaddr: broadcast on the link, never to the named address.
      const inform = run(scope, table, request(B, MessageType.Inform, { ciaddr: '10.1.1.50' }), 1_000_000, ip('10.1.1.51'))
      expect(inform.to?.broadcast).toBe(true)
      const own = run(scope, table, request(B, MessageType.Inform, { ciaddr: '10.1.1.50' }), 1_000_000, ip('10.1.1.50'))
      expect(own.to).toEqual({ address: ip('10.1.1.50'), port: 68, broadcast: false })
    })

    it('log reasons print addresses as dotted quads', () => {
      const d = run(scopeOf(config()), new LeaseTable(), request(VM1, MessageType.Decline, { requested: '10.1.1.10', server: '10.1.1.1' }))
      expect(d.outcome).toBe('decline')
      expect(d.reason).toContain('10.1.1.10')
    })
  })

  describe('client identifiers (option 61)', () => {
    const MAC = '02:00:00:00:30:01'
    const dynamic = () => scopeOf(config({ dhcp: { range: { start: '10.1.1.100', end: '10.1.1.199' } } }))
    const dotted = (a: number) => [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.')
    const lease = (scope: DhcpScope, table: LeaseTable, mac: string, clientId?: number[]) => {
      const id = clientId === undefined ? {} : { clientId }
      const offer = run(scope, table, request(mac, MessageType.Discover, id))
      const ack = run(scope, table, request(mac, MessageType.Request, { requested: dotted(offer.reply?.yiaddr as number), server: '10.1.1.1', ...id }))
      expect(ack.outcome).toBe('ack')
      return ack.reply?.yiaddr as number
    }

    it('keys dynamic leases by the client identifier: two identifiers behind one MAC get two addresses', () => {
      const scope = dynamic()
      const table = new LeaseTable()
      const one = lease(scope, table, MAC, [0, 0x6f, 0x6e, 0x65])
      const two = lease(scope, table, MAC, [0, 0x74, 0x77, 0x6f])
      expect(two).not.toBe(one)
      // Each identifier keeps its own address.
      expect(run(scope, table, request(MAC, MessageType.Discover, { clientId: [0, 0x6f, 0x6e, 0x65] })).reply?.yiaddr).toBe(one)
      expect(run(scope, table, request(MAC, MessageType.Discover, { clientId: [0, 0x74, 0x77, 0x6f] })).reply?.yiaddr).toBe(two)
    })

    it('one identifier keeps its lease across MACs (a moved NIC), and a client that stops sending it keeps its lease too', () => {
      const scope = dynamic()
      const table = new LeaseTable()
      const id = [1, 2, 0, 0, 0, 0x30, 0x01]
      const addr = lease(scope, table, MAC, id)
      expect(run(scope, table, request('02:00:00:00:30:02', MessageType.Discover, { clientId: id })).reply?.yiaddr).toBe(addr)
      expect(run(scope, table, request(MAC, MessageType.Discover)).reply?.yiaddr).toBe(addr)
    })

    it('a lease bound without an identifier is found when the client starts sending one', () => {
      const scope = dynamic()
      const table = new LeaseTable()
      const addr = lease(scope, table, MAC)
      expect(run(scope, table, request(MAC, MessageType.Request, { ciaddr: dotted(addr), clientId: [1, 2, 0, 0, 0, 0x30, 0x01] })).outcome).toBe('ack')
    })

    it('an identifier of hardware type 1 and the chaddr names the MAC: the lease is keyed by the MAC alone', () => {
      const scope = dynamic()
      const table = new LeaseTable()
      const addr = lease(scope, table, MAC, [1, 2, 0, 0, 0, 0x30, 0x01])
      expect(table.byClient(scope.networkId, MAC)?.ip).toBe(addr)
      expect(table.byClient(scope.networkId, 'id:01020000003001')).toBeUndefined()
      // The same identifier behind another chaddr is a real identifier again.
      const other = lease(scope, table, '02:00:00:00:30:09', [1, 2, 0, 0, 0, 0x30, 0x01])
      expect(table.byClient(scope.networkId, 'id:01020000003001')?.ip).toBe(other)
    })

    it('static hosts stay matched by MAC whatever identifier they send', () => {
      const scope = scopeOf(config())
      const table = new LeaseTable()
      const offer = run(scope, table, request(VM1, MessageType.Discover, { clientId: [0, 1, 2, 3] }))
      expect(offer.reply?.yiaddr).toBe(ip('10.1.1.10'))
      expect(run(scope, table, request(VM1, MessageType.Request, { requested: '10.1.1.10', server: '10.1.1.1', clientId: [9, 9] })).outcome).toBe('ack')
    })
  })

  describe('dynamic allocation cost', () => {
    const macOf = (i: number) => `02:01:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`
    const dotted = (a: number) => [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.')
    /**
     * A lease table that counts the work done: every method call on it, plus the probes of its
     * address pool when it has one. Past `budget` it throws, so a quadratic allocator fails fast.
     */
    function counted(budget: number): { table: LeaseTable; work: () => number } {
      const inner = new LeaseTable()
      let calls = 0
      const probes = () => ((inner as unknown as { probes?: number }).probes ?? 0)
      const work = () => calls + probes()
      const table = new Proxy(inner, {
        get(target, key, receiver) {
          const value = Reflect.get(target, key, receiver) as unknown
          if (typeof value !== 'function') return value
          return (...args: unknown[]) => {
            if (++calls + probes() > budget) throw new Error(`over the work budget of ${budget}`)
            return (value as (...a: unknown[]) => unknown).apply(receiver, args)
          }
        },
      })
      return { table, work }
    }

    it('filling a /16 range costs work linear in its size, and a full range answers "nothing free" at once', () => {
      const scope = scopeOf(config({ cidr: '10.1.0.0/16', dhcp: { range: { start: '10.1.0.2', end: '10.1.255.254' } } }))
      const size = ip('10.1.255.254') - ip('10.1.0.2') + 1 - 3 // the router's and the static hosts' addresses are in it
      const { table, work } = counted(40 * size)
      const seen = new Set<number>()
      for (let i = 0; i < size; i++) {
        const offer = run(scope, table, request(macOf(i), MessageType.Discover))
        expect(offer.outcome).toBe('offer')
        const addr = offer.reply?.yiaddr as number
        seen.add(addr)
        run(scope, table, request(macOf(i), MessageType.Request, { requested: dotted(addr), server: '10.1.1.1' }))
      }
      expect(seen.size).toBe(size)
      const before = work()
      for (let i = 0; i < 1000; i++) expect(run(scope, table, request(macOf(size + i), MessageType.Discover)).outcome).toBe('ignored-no-address')
      expect(work() - before).toBeLessThanOrEqual(1000 * 10)
    })

    it('hands out the next free address after the last one (next fit): a released address is not reused at once', () => {
      const scope = scopeOf(config({ dhcp: { range: { start: '10.1.1.100', end: '10.1.1.102' } } }))
      const table = new LeaseTable()
      const a = run(scope, table, request(macOf(1), MessageType.Discover)).reply?.yiaddr as number
      run(scope, table, request(macOf(1), MessageType.Request, { requested: dotted(a), server: '10.1.1.1' }))
      expect(run(scope, table, request(macOf(1), MessageType.Release, { ciaddr: dotted(a) }), 1_000_000, a).outcome).toBe('release')
      expect(run(scope, table, request(macOf(2), MessageType.Discover)).reply?.yiaddr).toBe(ip('10.1.1.101'))
      expect(run(scope, table, request(macOf(3), MessageType.Discover)).reply?.yiaddr).toBe(ip('10.1.1.102'))
      // Wraps around to what is free again.
      expect(run(scope, table, request(macOf(4), MessageType.Discover)).reply?.yiaddr).toBe(ip('10.1.1.100'))
    })

    it('caps the offers outstanding in a network at half its range; an expired offer makes room', () => {
      const scope = scopeOf(config({ dhcp: { range: { start: '10.1.1.100', end: '10.1.1.139' } } }))
      const table = new LeaseTable()
      const outcomes = Array.from({ length: 30 }, (_, i) => run(scope, table, request(macOf(i), MessageType.Discover)).outcome)
      expect(outcomes.filter((o) => o === 'offer')).toHaveLength(20)
      expect(outcomes.filter((o) => o === 'ignored-offer-cap')).toHaveLength(10)
      // A client holding an offer still gets it again, and a bound client is never capped.
      expect(run(scope, table, request(macOf(0), MessageType.Discover)).outcome).toBe('offer')
      expect(run(scope, table, request(VM1, MessageType.Discover)).outcome).toBe('offer')
      // Once the offers have expired, new clients get offers again.
      expect(run(scope, table, request(macOf(99), MessageType.Discover), 1_000_000 + 61_000).outcome).toBe('offer')
    })
  })
})

import { readU16 } from '../../../core/bytes.ts'
import { memoize } from '../../../core/memo.ts'
import { cidrContains, formatIpv4 } from '../../../core/ipv4.ts'
import {
  clientMac, FLAG_BROADCAST, hexOf, MessageType, messageType, MIN_MAX_MESSAGE, Op, Opt, optionAddress, optionsLength,
  HEADER_BYTES, type DhcpMessage, type MessageTypeCode,
} from './codec.ts'
import type { Lease, LeaseChange, LeaseTable } from './lease-table.ts'
import { addressList, classlessRoutes, domainSearch, textValue, u16Value, u32Value, type ClasslessRoute } from './options.ts'
import { INFINITE_LEASE, type DhcpHostEntry, type DhcpScope } from './scope.ts'

/**
 * The RFC 2131 server state machine. Pure: a request, the network's scope and a read-only
 * view of the leases in, a decision out (the reply, where it goes, and the lease change to make
 * and persist). The server (services/dhcp-server.ts) does the I/O.
 */

/** How long an offered address is held for the client that was offered it. */
const OFFER_HOLD_MS = 60_000
/** How long a declined address (someone else answers ARP for it) is not handed out. */
const DECLINE_QUARANTINE_MS = 600_000
/** Offers a network has outstanding at most: half its range, within these bounds. */
const OFFERS_MIN = 8
export const OFFERS_MAX = 1024

/** How many offers may be outstanding in a scope: new clients past that get nothing until one is taken or expires. */
function offerCap(scope: DhcpScope): number {
  const size = scope.range === undefined ? 0 : scope.range.end - scope.range.start + 1
  return Math.max(OFFERS_MIN, Math.min(OFFERS_MAX, Math.floor(size / 2)))
}


export interface Destination { address: number; port: number; broadcast: boolean }

/** What happened, for metrics and the log: one constant word per outcome. */
export type Outcome =
  | 'offer' | 'ack' | 'nak' | 'inform' | 'release' | 'decline'
  | 'ignored-unknown-client' | 'ignored-other-server' | 'ignored-no-address' | 'ignored-not-request'
  | 'ignored-bad-request' | 'ignored-release-mismatch' | 'ignored-decline-mismatch' | 'ignored-too-large' | 'ignored-offer-cap'

export interface Decision {
  outcome: Outcome
  reply?: DhcpMessage
  to?: Destination
  change?: LeaseChange
  /** Why a NAK or a refusal happened, for the log. */
  reason?: string
}

const BROADCAST = 0xffffffff

function leaseMs(seconds: number, now: number): number {
  return seconds === INFINITE_LEASE ? Infinity : now + seconds * 1000
}

/** The address this MAC holds in the scope now: its static one, or a live dynamic lease. */
function currentAddress(scope: DhcpScope, host: DhcpHostEntry | undefined, lease: Lease | undefined, now: number): number | undefined {
  if (host !== undefined) return host.ip
  if (lease !== undefined && lease.expiresAt > now && inRange(scope, lease.ip)) return lease.ip
  return undefined
}

function inRange(scope: DhcpScope, ip: number): boolean {
  return scope.range !== undefined && ip >= scope.range.start && ip <= scope.range.end && !scope.reserved.has(ip)
}

/**
 * Whether a lease still fits the config: a listed host keeps only its configured address (a
 * changed one gets a NAK at the next renewal), anyone else only an address of the range.
 * A removed host's lease goes, so its address is free at once.
 */
export function leaseStillValid(scope: DhcpScope, lease: Lease): boolean {
  const host = scope.hostsByMac.get(lease.mac)
  return host !== undefined ? host.ip === lease.ip : inRange(scope, lease.ip)
}

/** Whether a dynamic address may go to `client`: in the range, not reserved, not held by another client, not quarantined. */
function freeFor(scope: DhcpScope, leases: LeaseTable, ip: number, client: string, now: number): boolean {
  if (!inRange(scope, ip)) return false
  const holder = leases.byIp(scope.networkId, ip)
  if (holder !== undefined && holder.client !== client && holder.expiresAt > now) return false
  const until = leases.quarantinedUntil(scope.networkId, ip)
  return until === undefined || until <= now
}

/** The requested address when it is free for the client, else the pool's next free one. O(1) amortized. */
function allocate(scope: DhcpScope, leases: LeaseTable, client: string, requested: number | undefined, now: number): number | undefined {
  if (requested !== undefined && freeFor(scope, leases, requested, client, now)) return requested
  const free = leases.nextFree(scope)
  if (free !== undefined) return free
  // Expired offers hold their address until dropped: the oldest is free for anyone now.
  const oldest = leases.oldestOffer(scope.networkId)
  return oldest !== undefined && oldest.expiresAt <= now && inRange(scope, oldest.ip) ? oldest.ip : undefined
}

/** Whether the offers outstanding leave room for one more (an expired oldest one will be dropped to make it). */
function offerRoom(scope: DhcpScope, leases: LeaseTable, now: number): boolean {
  if (leases.offerCount(scope.networkId) < offerCap(scope)) return true
  const oldest = leases.oldestOffer(scope.networkId)
  return oldest !== undefined && oldest.expiresAt <= now
}

/**
 * RFC 2131 §4.2: the client is its identifier (option 61) when it sends one, else its hardware
 * address. An identifier that is only hardware type 1 and the chaddr (what udhcpc and most
 * Ethernet clients send) names the same client as the MAC, so it is keyed by the MAC: no second
 * string and no MAC index entry per lease.
 */
function clientKey(req: DhcpMessage, mac: string): string {
  const id = req.options.get(Opt.ClientId)
  if (id === undefined || id.length === 0) return mac
  return isHardwareId(id, req.chaddr) ? mac : `id:${hexOf(id)}`
}

function isHardwareId(id: Uint8Array, chaddr: Uint8Array): boolean {
  if (id.length !== 7 || id[0] !== 1) return false
  for (let i = 0; i < 6; i++) if (id[i + 1] !== chaddr[i]) return false
  return true
}

function requestedList(m: DhcpMessage): Uint8Array {
  return m.options.get(Opt.ParameterList) ?? new Uint8Array(0)
}

function maxMessage(m: DhcpMessage): number {
  const v = m.options.get(Opt.MaxMessageSize)
  const asked = v?.length === 2 ? readU16(v, 0) : 0
  return Math.min(1500 - 28, Math.max(MIN_MAX_MESSAGE, asked))
}

const TYPE_VALUES: Uint8Array[] = Array.from({ length: 9 }, (_, t) => Uint8Array.of(t))
function baseReply(req: DhcpMessage, type: MessageTypeCode, scope: DhcpScope): DhcpMessage {
  const options = new Map<number, Uint8Array>()
  options.set(Opt.MessageType, TYPE_VALUES[type] as Uint8Array)
  options.set(Opt.ServerId, scopeValues(scope).serverId)
  return {
    op: Op.Reply, htype: req.htype, hlen: req.hlen, hops: 0, xid: req.xid, secs: 0, flags: req.flags,
    ciaddr: 0, yiaddr: 0, siaddr: 0, giaddr: req.giaddr, chaddr: req.chaddr, options,
  }
}

/** Options that may be left out, least important first, when a reply would exceed the client's maximum. */
const DROPPABLE = [Opt.MsClasslessRoutes, Opt.NtpServers, Opt.DomainSearch, Opt.Hostname, Opt.InterfaceMtu, Opt.Broadcast]

/**
 * The configuration option values for a host (or an unlisted client of the range), in a fixed
 * order. What the whole network shares (mask, router, DNS, domain…) is built once per config and
 * scope; only a host's own values (name, extra DNS servers, routes) are built per reply, from
 * Node's buffer pool: thousands of hosts must not each hold a dozen typed arrays.
 */
type OptionList = readonly (readonly [number, Uint8Array])[]
interface SharedOptions { head: OptionList; tail: OptionList }
/** A scope's encoded values, built on first use and dropped with the scope (a new config compiles new scopes). */
interface ScopeValues { serverId: Uint8Array; forDefault: SharedOptions; forOther: SharedOptions }
const scopeValues = memoize((scope: DhcpScope): ScopeValues => {
  const build = (asDefault: boolean): SharedOptions => {
    const head: [number, Uint8Array][] = [[Opt.SubnetMask, u32Value(scope.mask)], [Opt.Broadcast, u32Value(scope.broadcast)]]
    if (asDefault && scope.gateway !== undefined) head.push([Opt.Router, u32Value(scope.gateway)])
    if (asDefault && scope.dnsServers.length > 0) head.push([Opt.DnsServers, addressList(scope.dnsServers)])
    const tail: [number, Uint8Array][] = []
    if (asDefault && scope.domain !== undefined) tail.push([Opt.DomainName, textValue(scope.domain)])
    if (scope.mtu !== undefined) tail.push([Opt.InterfaceMtu, u16Value(scope.mtu)])
    if (scope.ntpServers.length > 0) tail.push([Opt.NtpServers, addressList(scope.ntpServers)])
    if (asDefault && scope.search.length > 0) tail.push([Opt.DomainSearch, domainSearch(scope.search)])
    return { head, tail }
  }
  return { serverId: u32Value(scope.serverId), forDefault: build(true), forOther: build(false) }
})

function configOptions(scope: DhcpScope, host: DhcpHostEntry | undefined, into: Map<number, Uint8Array>, asked: Uint8Array): void {
  const isDefault = host?.isDefault ?? true
  const values = scopeValues(scope)
  const shared = isDefault ? values.forDefault : values.forOther
  for (const [code, value] of shared.head) into.set(code, value)
  const extraDns = host?.dnsServers ?? []
  // A host's extra servers come after the network's (a non-default NIC gets only its own).
  if (extraDns.length > 0) into.set(Opt.DnsServers, addressList(isDefault ? [...scope.dnsServers, ...extraDns] : extraDns))
  if (host?.hostname !== undefined) into.set(Opt.Hostname, textValue(host.hostname))
  for (const [code, value] of shared.tail) into.set(code, value)
  const routes: ClasslessRoute[] = [...(host?.routes ?? []), ...(isDefault ? scope.routes : [])]
  if (routes.length > 0) {
    // RFC 3442: a client given option 121 ignores option 3, so the default route goes in too.
    if (isDefault && scope.gateway !== undefined) routes.push({ destination: 0, prefix: 0, gateway: scope.gateway })
    const value = classlessRoutes(routes)
    into.set(Opt.ClasslessRoutes, value)
    if (asked.includes(Opt.MsClasslessRoutes)) into.set(Opt.MsClasslessRoutes, value)
  }
}

/** Adds the configuration options to a reply, within the client's maximum message size. */
function addConfigOptions(reply: DhcpMessage, req: DhcpMessage, scope: DhcpScope, host: DhcpHostEntry | undefined): boolean {
  const o = reply.options
  const asked = requestedList(req)
  configOptions(scope, host, o, asked)
  // Fit the client's maximum message size, dropping what it did not ask for first.
  const limit = maxMessage(req)
  if (HEADER_BYTES + optionsLength(o) <= limit) return true
  for (const pass of [false, true]) {
    for (const code of DROPPABLE) {
      if (HEADER_BYTES + optionsLength(o) <= limit) return true
      if (pass || !asked.includes(code)) o.delete(code)
    }
  }
  return HEADER_BYTES + optionsLength(o) <= limit
}

/** Lease, T1 and T2 option values by lease time (a handful of distinct values per config). */
const leaseValues = new Map<number, readonly (readonly [number, Uint8Array])[]>()

function addLeaseTimes(reply: DhcpMessage, seconds: number): void {
  let values = leaseValues.get(seconds)
  if (values === undefined) {
    // T1 = 50 %, T2 = 87.5 % of the lease (RFC 2131 §4.4.5), so T1 < T2 < lease always holds.
    values = seconds === INFINITE_LEASE ? [[Opt.LeaseTime, u32Value(seconds)]]
      : [[Opt.LeaseTime, u32Value(seconds)], [Opt.RenewalTime, u32Value(Math.floor(seconds / 2))], [Opt.RebindingTime, u32Value(Math.floor((seconds * 7) / 8))]]
    if (leaseValues.size > 1024) leaseValues.clear()
    leaseValues.set(seconds, values)
  }
  for (const [code, value] of values) reply.options.set(code, value)
}

/**
 * RFC 2131 §4.1: relay agent, then a configured client, else broadcast (we cannot ARP for a
 * client without an address). A client's ciaddr is used only when it is `owned`: the address
 * this reply leases to it, or the source the request came from. Anything else would let a
 * guest aim our replies at any address.
 */
function destination(req: DhcpMessage, reply: DhcpMessage, nak: boolean, owned?: number): Destination {
  if (req.giaddr !== 0) {
    if (nak) reply.flags |= FLAG_BROADCAST
    return { address: req.giaddr, port: 67, broadcast: false }
  }
  if (!nak && req.ciaddr !== 0 && req.ciaddr === owned) return { address: req.ciaddr, port: 68, broadcast: false }
  return { address: BROADCAST, port: 68, broadcast: true }
}

function nak(req: DhcpMessage, scope: DhcpScope, reason: string): Decision {
  const reply = baseReply(req, MessageType.Nak, scope)
  reply.options.set(Opt.Message, textValue(reason))
  return { outcome: 'nak', reply, to: destination(req, reply, true), reason }
}

function ack(req: DhcpMessage, scope: DhcpScope, host: DhcpHostEntry | undefined, ip: number, previous: Lease | undefined, now: number, mac: string, client: string): Decision {
  const seconds = host?.leaseSeconds ?? scope.leaseSeconds
  const reply = baseReply(req, MessageType.Ack, scope)
  reply.ciaddr = req.ciaddr
  reply.yiaddr = ip
  addLeaseTimes(reply, seconds)
  if (!addConfigOptions(reply, req, scope, host)) return { outcome: 'ignored-too-large' }
  const lease: Lease = { network: scope.networkId, client, mac, ip, expiresAt: leaseMs(seconds, now), bound: true }
  // A static host's address comes from the config; a dynamic one exists only in the lease store.
  const durable = host === undefined && !(previous?.bound === true && previous.ip === ip)
  return { outcome: 'ack', reply, to: destination(req, reply, false, ip), change: { kind: 'bind', lease, durable } }
}

/**
 * Pure apart from reading `leases`. The decision for one client message received for `scope`;
 * `source` is the IPv4 source address it came from (0 when unknown or unspecified).
 */
export function decide(req: DhcpMessage, scope: DhcpScope, leases: LeaseTable, now: number, source = 0): Decision {
  const type = messageType(req)
  const mac = clientMac(req)
  if (req.op !== Op.Request || type === undefined) return { outcome: 'ignored-not-request' }
  if (mac === undefined) return { outcome: 'ignored-bad-request', reason: 'not an Ethernet client' }
  const host = scope.hostsByMac.get(mac)
  if (host === undefined && scope.range === undefined) return { outcome: 'ignored-unknown-client' }
  const client = clientKey(req, mac)
  const lease = leases.find(scope.networkId, client, mac)
  const requested = optionAddress(req, Opt.RequestedIp)
  const serverId = optionAddress(req, Opt.ServerId)

  switch (type) {
    case MessageType.Discover: {
      let ip = currentAddress(scope, host, lease, now)
      if (ip === undefined) {
        // A flood of DISCOVERs from forged MACs must not hold the whole range.
        if (!offerRoom(scope, leases, now)) return { outcome: 'ignored-offer-cap', reason: 'too many offers outstanding' }
        ip = allocate(scope, leases, client, requested, now)
      }
      if (ip === undefined) return { outcome: 'ignored-no-address', reason: 'the dynamic range is exhausted' }
      const reply = baseReply(req, MessageType.Offer, scope)
      reply.yiaddr = ip
      addLeaseTimes(reply, host?.leaseSeconds ?? scope.leaseSeconds)
      if (!addConfigOptions(reply, req, scope, host)) return { outcome: 'ignored-too-large' }
      const held = host !== undefined || lease?.ip === ip ? undefined
        : { kind: 'offer' as const, at: now, lease: { network: scope.networkId, client, mac, ip, expiresAt: now + OFFER_HOLD_MS, bound: false } }
      return { outcome: 'offer', reply, to: destination(req, reply, false), ...(held === undefined ? {} : { change: held }) }
    }
    case MessageType.Request: {
      if (serverId !== undefined) {
        // SELECTING: the client answers one OFFER; if not ours, our offer is void.
        if (serverId !== scope.serverId) {
          return lease !== undefined && !lease.bound
            ? { outcome: 'ignored-other-server', change: { kind: 'release', network: scope.networkId, client: lease.client } }
            : { outcome: 'ignored-other-server' }
        }
        const wanted = requested ?? req.ciaddr
        const ip = currentAddress(scope, host, lease, now)
        if (ip === wanted) return ack(req, scope, host, ip, lease, now, mac, client)
        if (host === undefined && ip === undefined && freeFor(scope, leases, wanted, client, now)) return ack(req, scope, host, wanted, lease, now, mac, client)
        return nak(req, scope, 'requested address is not yours')
      }
      if (requested !== undefined && req.ciaddr === 0) {
        // INIT-REBOOT: the client asks to keep a remembered address.
        if (!cidrContains(scope.cidr, requested)) return nak(req, scope, 'wrong network')
        const ip = currentAddress(scope, host, lease, now)
        if (ip === undefined) {
          // RFC 2131 §4.3.2: no record of the client → stay silent (another server may know it).
          return { outcome: 'ignored-unknown-client' }
        }
        return ip === requested ? ack(req, scope, host, ip, lease, now, mac, client) : nak(req, scope, 'address changed')
      }
      if (req.ciaddr !== 0) {
        // RENEWING (unicast) or REBINDING (broadcast).
        const ip = currentAddress(scope, host, lease, now)
        if (ip === req.ciaddr) return ack(req, scope, host, ip, lease, now, mac, client)
        if (host === undefined && ip === undefined && freeFor(scope, leases, req.ciaddr, client, now)) return ack(req, scope, host, req.ciaddr, lease, now, mac, client)
        return nak(req, scope, 'address changed')
      }
      return { outcome: 'ignored-bad-request', reason: 'REQUEST without requested address, server id or ciaddr' }
    }
    case MessageType.Decline: {
      if (requested === undefined || (serverId !== undefined && serverId !== scope.serverId)) return { outcome: 'ignored-bad-request', reason: 'DECLINE without our server id or an address' }
      // Only the sender's own address: else any guest could quarantine the range or evict another client.
      if (requested !== currentAddress(scope, host, lease, now)) {
        return { outcome: 'ignored-decline-mismatch', reason: `DECLINE of ${formatIpv4(requested)}, not the address offered or leased to this client` }
      }
      if (host !== undefined) return { outcome: 'decline', reason: `static address ${formatIpv4(requested)} is in use by another machine` }
      return { outcome: 'decline', reason: `${formatIpv4(requested)} is in use by another machine; not handed out for a while`, change: { kind: 'decline', network: scope.networkId, client: lease?.client ?? client, ip: requested, until: now + DECLINE_QUARANTINE_MS } }
    }
    case MessageType.Release: {
      // RFC 2131 §4.4.6: sent unicast from the leased address; a broadcast or another source is a forgery.
      if (lease === undefined || lease.ip !== req.ciaddr || source !== req.ciaddr) return { outcome: 'ignored-release-mismatch' }
      return { outcome: 'release', change: { kind: 'release', network: scope.networkId, client: lease.client } }
    }
    case MessageType.Inform: {
      if (req.ciaddr === 0 || !cidrContains(scope.cidr, req.ciaddr)) return { outcome: 'ignored-bad-request', reason: 'INFORM from outside the network' }
      const reply = baseReply(req, MessageType.Ack, scope)
      reply.ciaddr = req.ciaddr
      if (!addConfigOptions(reply, req, scope, host)) return { outcome: 'ignored-too-large' }
      return { outcome: 'inform', reply, to: destination(req, reply, false, source) }
    }
    default:
      return { outcome: 'ignored-not-request' }
  }
}

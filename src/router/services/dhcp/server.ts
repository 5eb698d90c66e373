import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import type { Logger } from 'pino'
import { clientMac, decodeDhcp, DhcpDecodeError, encodeDhcp, MessageType, messageType, type DhcpMessage } from './codec.ts'
import { applyLeaseChange, LeaseTable } from './lease-table.ts'
import { decide, leaseStillValid, type Decision } from './machine.ts'
import type { DhcpScope } from './scope.ts'
import { TokenBuckets } from './rate-limit.ts'
import { relayRefusal } from './relay.ts'
import { formatIpv4, parseIpv4 } from '../../../core/ipv4.ts'
import type { Metrics } from '../../../core/metrics.ts'
import { LeaseStore } from './lease-store.ts'
import { bindToInterface, forceReceiveBuffer } from '../../../core/net/socket-options.ts'

/**
 * The DHCP server: one UDP socket on 0.0.0.0:67 per guest link, pinned to the link with
 * SO_BINDTOIFINDEX, so a request is known by the link it came in on and a broadcast reply
 * leaves by that link (Node can do neither by itself: machine-facts.md). Decisions come from
 * the pure state machine (dhcp/machine.ts); leases live in a LeaseTable persisted by LeaseStore.
 */

const PRUNE_MS = 60_000
/** Lease event lines (NAK, DECLINE, RELEASE, refusals) a network may log per second, and in a burst. */
const LOG_RATE = 5
const LOG_BURST = 20
/**
 * DISCOVERs one client (link + MAC) may send a second, and in a burst: far above what a client
 * retrying does (perfdhcp's 1,000 clients at 9,000 exchanges/s send 9 a second each).
 */
const DISCOVER_RATE = 20
const DISCOVER_BURST = 40
/**
 * New offers (an address held for a client that had none) a link may get a second, and in a
 * burst. Forged MACs get past the per-client limit; this keeps one link's flood from taking the
 * CPU and the journal from every other network. Static hosts and clients with a lease are not
 * counted.
 */
const NEW_OFFER_RATE = 200
const NEW_OFFER_BURST = 400
/** Clients whose DISCOVER rate is tracked; beyond, the least recently seen are forgotten. */
const RATE_KEYS = 16_384
const LOGGED_OUTCOMES: ReadonlySet<string> = new Set(['nak', 'decline', 'release', 'ignored-decline-mismatch', 'ignored-release-mismatch'])

const TYPE_NAMES: Record<number, string> = { 1: 'discover', 3: 'request', 4: 'decline', 7: 'release', 8: 'inform' }

interface Listener { link: string; ifindex: number; socket: Socket }

export interface DhcpLink { scope: DhcpScope; ifindex: number }

export class DhcpServer {
  private readonly table = new LeaseTable()
  private readonly store: LeaseStore
  private readonly listeners = new Map<string, Listener>()
  private scopes: DhcpScope[] = []
  private scopeByLink = new Map<string, DhcpScope>()
  private readonly log: Logger
  private pruneTimer: NodeJS.Timeout | undefined
  // Counted in plain maps on the hot path, published when /metrics is read.
  private readonly received = new Map<string, number>()
  private readonly outcomes = new Map<string, number>()
  private readonly malformed = new Map<string, number>()
  private relayed = 0
  private readonly dropped = new Map<string, number>()
  private readonly discoverLimit = new TokenBuckets<string>(DISCOVER_RATE, DISCOVER_BURST, RATE_KEYS)
  private readonly newOfferLimit = new TokenBuckets<string>(NEW_OFFER_RATE, NEW_OFFER_BURST, 1024)
  /** Guests choose how many lease events happen; the log must not grow as fast as they can send. */
  private readonly logLimit = new TokenBuckets<string>(LOG_RATE, LOG_BURST, 1024)
  private readonly logSuppressed = new Map<string, number>()

  constructor(stateDir: string, log: Logger, private readonly metrics: Metrics, private readonly now: () => number = Date.now) {
    this.log = log.child({ component: 'dhcp' })
    this.store = new LeaseStore(stateDir, this.table, {
      onError: (err) => {
        this.log.error({ err }, 'lease journal compaction failed; retried later')
        this.count(this.outcomes, 'store-compaction-failed')
      },
    })
    metrics.collect(() => {
      for (const [type, n] of this.received) metrics.setCounter('dhcp_received_total', 'DHCP messages received', n, { type })
      for (const [outcome, n] of this.outcomes) metrics.setCounter('dhcp_outcomes_total', 'DHCP requests by outcome', n, { outcome })
      for (const [reason, n] of this.malformed) metrics.setCounter('dhcp_malformed_total', 'DHCP datagrams dropped as malformed', n, { reason })
      metrics.setCounter('dhcp_relayed_total', 'DHCP messages received through a relay agent (giaddr set)', this.relayed)
      for (const [reason, n] of this.dropped) metrics.setCounter('dhcp_dropped_total', 'DHCP messages dropped unanswered: relay not accepted, rate limits', n, { reason })
    })
  }

  async open(): Promise<void> {
    const leases = await this.store.open(this.now())
    this.log.info({ leases }, 'leases loaded')
    this.pruneTimer = setInterval(() => this.prune(), PRUNE_MS)
    this.pruneTimer.unref()
  }

  /** Serves exactly these scopes from now on: sockets for new links, none for links gone. */
  async update(links: readonly DhcpLink[]): Promise<void> {
    this.scopes = links.map((l) => l.scope)
    this.scopeByLink = new Map(links.flatMap((l) => (l.scope.link === undefined ? [] : [[l.scope.link, l.scope] as const])))
    const wanted = new Map(links.flatMap((l) => (l.scope.link === undefined ? [] : [[l.scope.link, l.ifindex] as const])))
    for (const [link, listener] of this.listeners) {
      if (wanted.get(link) !== listener.ifindex) {
        listener.socket.close()
        this.listeners.delete(link)
      }
    }
    for (const [link, ifindex] of wanted) {
      if (this.listeners.has(link)) continue
      try {
        this.listeners.set(link, { link, ifindex, socket: await this.listen(link, ifindex) })
      } catch (err) {
        this.log.error({ err, link, ifindex }, 'cannot serve DHCP on link')
      }
    }
    this.prune()
    this.metrics.set('dhcp_links', 'Links the DHCP server listens on', this.listeners.size)
  }

  async close(): Promise<void> {
    if (this.pruneTimer !== undefined) clearInterval(this.pruneTimer)
    for (const l of this.listeners.values()) l.socket.close()
    this.listeners.clear()
    await this.store.close()
  }

  /** Live leases, for the status API. */
  leases(): { network: string; mac: string; ip: string; expiresAt: string | null; bound: boolean }[] {
    const now = this.now()
    return [...this.table.leases()].filter((l) => l.expiresAt > now).map((l) => ({
      network: l.network, mac: l.mac, ip: formatIpv4(l.ip), bound: l.bound,
      expiresAt: Number.isFinite(l.expiresAt) ? new Date(l.expiresAt).toISOString() : null,
    }))
  }

  private listen(link: string, ifindex: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type: 'udp4', reuseAddr: true })
      socket.once('error', reject)
      socket.bind(67, '0.0.0.0', () => {
        try {
          bindToInterface(socket, ifindex)
          socket.setBroadcast(true)
          forceReceiveBuffer(socket)
        } catch (err) {
          socket.close()
          reject(err)
          return
        }
        socket.off('error', reject)
        socket.on('error', (err) => this.log.error({ err, link }, 'DHCP socket error'))
        socket.on('message', (buf, rinfo) => this.receive(link, socket, buf, rinfo))
        this.log.info({ link, ifindex }, 'serving DHCP')
        resolve(socket)
      })
    })
  }

  private receive(link: string, socket: Socket, buf: Buffer, rinfo: RemoteInfo): void {
    let req: DhcpMessage
    try {
      req = decodeDhcp(buf)
    } catch (err) {
      this.count(this.malformed, err instanceof DhcpDecodeError ? err.code : 'ERR_DHCP_DECODE')
      return
    }
    const type = messageType(req)
    this.count(this.received, TYPE_NAMES[type ?? 0] ?? 'other')
    // The network is the one of the link the message came in on, relayed or not: a reply for one
    // network never leaves by another's link, and giaddr never picks the scope.
    const scope = this.scopeByLink.get(link)
    if (scope === undefined) {
      this.count(this.outcomes, 'ignored-no-network')
      return
    }
    const source = parseIpv4(rinfo.address) ?? 0
    if (req.giaddr !== 0) {
      this.relayed++
      const refused = relayRefusal(scope, req.giaddr, source, rinfo.port)
      if (refused !== undefined) return this.drop(refused)
    }
    const now = this.now()
    if (type === MessageType.Discover && !this.discoverLimit.take(`${link} ${clientMac(req) ?? ''}`, now)) return this.drop('ratelimit-client')
    let decision: Decision
    try {
      decision = decide(req, scope, this.table, now, source)
    } catch (err) {
      // The machine is pure and total; a throw here is a bug, never a reason to stop serving.
      this.log.error({ err, link, from: rinfo.address }, 'DHCP request crashed the state machine')
      this.count(this.malformed, 'ERR_DHCP_INTERNAL')
      return
    }
    if (decision.change?.kind === 'offer' && !this.newOfferLimit.take(link, now)) return this.drop('ratelimit-link')
    this.count(this.outcomes, decision.outcome)
    if (LOGGED_OUTCOMES.has(decision.outcome)) this.logEvent(scope.networkId, req, decision, rinfo.address, now)
    const change = decision.change
    const { reply, to } = decision
    const send = () => {
      if (reply === undefined || to === undefined) return
      socket.send(encodeDhcp(reply), to.port, formatIpv4(to.address), (err) => {
        if (!err) return
        this.count(this.outcomes, 'send-failed')
        // Guests choose where replies go (giaddr, ciaddr): failures are logged at the same bounded rate.
        if (this.logLimit.take(`${scope.networkId} send`, this.now())) this.log.warn({ err, network: scope.networkId, to: formatIpv4(to.address) }, 'DHCP reply not sent')
      })
    }
    if (change === undefined) return send()
    applyLeaseChange(this.table, change)
    const persisted = this.store.record(change)
    if (persisted === undefined) return send()
    persisted.then(send, (err: unknown) => {
      // Not on disk: the client hears nothing and retries; the address must not be promised.
      if (change.kind === 'bind') this.table.remove(change.lease.network, change.lease.client)
      this.log.error({ err }, 'lease not stored; request dropped')
      this.count(this.outcomes, 'store-failed')
    })
  }

  /** One line per lease event, at most LOG_RATE a second per network; the next line says how many were left out. */
  private logEvent(network: string, req: DhcpMessage, decision: Decision, from: string, now: number): void {
    if (!this.logLimit.take(network, now)) {
      this.logSuppressed.set(network, (this.logSuppressed.get(network) ?? 0) + 1)
      return
    }
    const suppressed = this.logSuppressed.get(network) ?? 0
    this.logSuppressed.delete(network)
    this.log.info({
      network, mac: clientMac(req), outcome: decision.outcome, reason: decision.reason, from,
      ciaddr: formatIpv4(req.ciaddr), giaddr: formatIpv4(req.giaddr), ...(suppressed > 0 ? { suppressed } : {}),
    }, 'DHCP lease event')
  }

  private drop(reason: string): void {
    this.count(this.dropped, reason)
  }

  private count(counter: Map<string, number>, key: string): void {
    counter.set(key, (counter.get(key) ?? 0) + 1)
  }

  private prune(): void {
    const byNetwork = new Map(this.scopes.map((s) => [s.networkId, s]))
    const now = this.now()
    this.table.prune(now, new Set(byNetwork.keys()))
    for (const limit of [this.discoverLimit, this.newOfferLimit, this.logLimit]) limit.prune(now)
    for (const lease of [...this.table.leases()]) {
      const scope = byNetwork.get(lease.network)
      if (scope !== undefined && !leaseStillValid(scope, lease)) this.table.remove(lease.network, lease.client)
    }
    let bound = 0
    for (const l of this.table.leases()) if (l.bound) bound++
    this.metrics.set('dhcp_leases', 'Bound DHCP leases', bound)
  }
}

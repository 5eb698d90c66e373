import { createSocket, type Socket } from 'node:dgram'
import { createServer, type Server, type Socket as TcpSocket } from 'node:net'
import type { Logger } from 'pino'
import { ResponseCache } from './cache.ts'
import { CacheBudget } from './cache-budget.ts'
import { encodeLocalAnswer } from './local-answer.ts'
import { RateLimiter } from './rate-limit.ts'
import { SourceSlots } from '../../../core/net/source-slots.ts'
import { problemReply, unservedReply } from './unserved.ts'
import { UpstreamSlots } from './upstream-slots.ts'
import { answerFromZone, type Zone } from './zone.ts'
import {
  EDNS_UDP_SIZE, errorReply, layoutOf, parseQuery, PLAIN_UDP_SIZE, questionName, RCODE, replyFrom, withoutOpt, type ParsedQuery,
} from './wire.ts'
import type { Metrics } from '../../../core/metrics.ts'
import { cidrContains, parseIpv4 } from '../../../core/ipv4.ts'
import { forceReceiveBuffer, RECEIVE_BUFFER_BYTES } from '../../../core/net/socket-options.ts'
import { BatchUdpSocket, loadUdpBatch } from '../../../core/net/udp-batch.ts'
import { DEFAULT_TCP_LIMITS, DnsTcpConnection } from './tcp.ts'
import { forward } from './forwarder.ts'

/**
 * The DNS server of the guest networks: UDP and TCP on each network's router address.
 * Answers with authority for the network's zone (dns/zone.ts), forwards everything else to the
 * network's upstream resolvers and caches what comes back. Only clients inside the network's
 * CIDR are answered (iptables lets DNS in only from guest links as well), each within its rate.
 *
 * The hot path reads the question from the raw bytes and copies a stored response
 * (dns/wire.ts); dns/local-answer.ts builds local answers once per question and config.
 */

export interface DnsNetwork { zone: Zone; upstreams: string[]; rateQps: number }

/**
 * All networks' caches together (each network has its own cache, so no answer ever crosses
 * between networks, but one budget): a few hundred thousand typical answers.
 */
const CACHE_BUDGET_BYTES = 16 * 1024 * 1024
/**
 * Distinct upstream questions in flight, per network and for all: each holds a socket and a
 * timer for up to the forwarder's timeouts; past the caps a question gets SERVFAIL at once.
 */
const UPSTREAM_NETWORK_CAP = 256
const UPSTREAM_GLOBAL_CAP = 1024
/** Forwarded answers are kept at most this long, whatever their TTL. */
const MAX_CACHE_SECONDS = 86_400
const TCP_MAX_CONNECTIONS = 256
/** TCP connections one client address may hold at once, over all networks. */
const TCP_PER_SOURCE = 8
export const DEFAULT_RATE_QPS = 1000

type Stored = { bytes: Uint8Array; ttlOffsets: readonly number[] }

/** What answering needs of one network: its config, its own cache, its upstream questions in flight. */
interface NetworkState {
  network: DnsNetwork
  /**
   * This network's answers only: a cache shared between networks would hand one network's
   * local names (or its upstreams' answers) to another's clients.
   */
  cache: ResponseCache
  /** Upstream questions in flight: identical ones share one upstream query. */
  inflight: Map<string, Promise<Stored | undefined>>
}

interface Listener {
  state: NetworkState
  address: string
  /** Batched through the native addon when it is built (services/udp-batch.ts), else node:dgram. */
  udp: Socket | BatchUdpSocket
  tcp: Server
}

type Counter = 'local' | 'cache' | 'forwarded' | 'servfail' | 'refused' | 'formerr' | 'notimp' | 'badvers' | 'truncated'
type Drop = 'outside' | 'ratelimit' | 'malformed' | 'port0' | 'tcpbusy'

export class DnsServer {
  private readonly listeners = new Map<string, Listener>()
  private readonly limiter = new RateLimiter(DEFAULT_RATE_QPS)
  private readonly cacheBudget = new CacheBudget(CACHE_BUDGET_BYTES)
  private readonly upstreamSlots = new UpstreamSlots(UPSTREAM_GLOBAL_CAP, UPSTREAM_NETWORK_CAP)
  /** Questions answered SERVFAIL because the upstream caps were reached. */
  private upstreamCapped = 0
  private readonly answered: Record<Counter, number> = { local: 0, cache: 0, forwarded: 0, servfail: 0, refused: 0, formerr: 0, notimp: 0, badvers: 0, truncated: 0 }
  private readonly dropped: Record<Drop, number> = { outside: 0, ratelimit: 0, malformed: 0, port0: 0, tcpbusy: 0 }
  private malformed = 0
  /** Oversized datagrams counted by listeners since closed. */
  private oversizedClosed = 0
  private readonly log: Logger
  private readonly sweepTimer: NodeJS.Timeout
  private readonly tcpSlots = new SourceSlots(TCP_PER_SOURCE)
  private readonly tcpConnections = new Set<DnsTcpConnection>()

  constructor(log: Logger, metrics: Metrics, private readonly now: () => number = Date.now) {
    this.log = log.child({ component: 'dns' })
    metrics.collect(() => {
      for (const [answer, n] of Object.entries(this.answered)) metrics.setCounter('dns_answers_total', 'DNS answers by source', n, { answer })
      for (const [reason, n] of Object.entries(this.dropped)) metrics.setCounter('dns_dropped_total', 'DNS datagrams dropped unanswered', n, { reason })
      let oversized = this.oversizedClosed
      for (const l of this.listeners.values()) if (l.udp instanceof BatchUdpSocket) oversized += l.udp.oversized
      metrics.setCounter('dns_dropped_total', 'DNS datagrams dropped unanswered', oversized, { reason: 'oversize' })
      metrics.setCounter('dns_malformed_total', 'DNS messages that were not a well-formed query (answered FORMERR/NOTIMP or dropped)', this.malformed)
      metrics.set('dns_cache_entries', 'Stored DNS responses', this.cacheBudget.entries)
      metrics.set('dns_cache_bytes', 'Bytes the DNS caches of all networks hold (responses, keys, overhead), against one budget', this.cacheBudget.usedBytes)
      metrics.set('dns_ratelimit_clients', 'Clients in the DNS rate-limit table', this.limiter.size)
      metrics.set('dns_upstream_inflight', 'Upstream DNS questions in flight', this.upstreamSlots.inFlight)
      metrics.setCounter('dns_upstream_capped_total', 'DNS questions answered SERVFAIL because too many upstream questions were in flight', this.upstreamCapped)
      let queued = 0
      for (const c of this.tcpConnections) queued += c.queuedBytes
      metrics.set('dns_tcp_connections', 'Open DNS-over-TCP connections', this.tcpConnections.size)
      metrics.set('dns_tcp_queued_bytes', 'Bytes DNS-over-TCP connections hold in user space (answers not yet written, input not yet parsed)', queued)
    })
    this.sweepTimer = setInterval(() => this.limiter.sweep(this.now()), 60_000)
    this.sweepTimer.unref()
  }

  /** Serves exactly these networks from now on; local answers of the old config are forgotten. */
  async update(networks: readonly DnsNetwork[]): Promise<void> {
    const wanted = new Map(networks.map((n) => [n.zone.networkId, n]))
    for (const [id, l] of this.listeners) {
      const next = wanted.get(id)
      if (next === undefined || next.zone.routerIp !== l.address) {
        this.closeListener(l)
        this.listeners.delete(id)
      } else {
        // Local answers follow the new config; forwarded ones stay unless the upstreams changed.
        l.state.cache.clear(next.upstreams.join() === l.state.network.upstreams.join())
        l.state.network = next
      }
    }
    for (const [id, network] of wanted) {
      if (this.listeners.has(id)) continue
      try {
        this.listeners.set(id, await this.listen(network))
      } catch (err) {
        this.log.error({ err, network: id, address: network.zone.routerIp }, 'cannot serve DNS on the network')
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer)
    for (const l of this.listeners.values()) this.closeListener(l)
    this.listeners.clear()
  }

  private closeListener(l: Listener): void {
    if (l.udp instanceof BatchUdpSocket) this.oversizedClosed += l.udp.oversized
    l.udp.close()
    l.tcp.close()
    l.state.cache.close()
  }

  private async listen(network: DnsNetwork): Promise<Listener> {
    const address = network.zone.routerIp
    const state: NetworkState = { network, cache: new ResponseCache(this.cacheBudget), inflight: new Map() }
    const native = loadUdpBatch()
    const udp = native !== undefined
      ? new BatchUdpSocket(native, address, 53, RECEIVE_BUFFER_BYTES, (msg, addr, port) => port === 0 ? this.dropPortZero() : this.answer(state, msg, addr, PLAIN_UDP_SIZE),
        (err) => this.log.error({ err, address }, 'DNS socket error'))
      : await this.listenDgram(state, address)
    const tcp = createServer({ pauseOnConnect: false })
    tcp.maxConnections = TCP_MAX_CONNECTIONS
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject)
      tcp.listen(53, address, () => { tcp.off('error', reject); resolve() })
    }).catch((err: unknown) => { udp.close(); throw err })
    tcp.on('error', (err) => this.log.error({ err, address }, 'DNS TCP server error'))
    tcp.on('connection', (socket) => this.serveTcp(state, socket))
    this.log.info({ network: network.zone.networkId, address, batched: native !== undefined }, 'serving DNS')
    return { state, address, udp, tcp }
  }

  /** The plain node:dgram socket, where the native batch addon is not built. */
  private async listenDgram(state: NetworkState, address: string): Promise<Socket> {
    const udp = createSocket('udp4')
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject)
      udp.bind(53, address, () => { udp.off('error', reject); resolve() })
    })
    forceReceiveBuffer(udp)
    udp.on('error', (err) => this.log.error({ err, address }, 'DNS socket error'))
    udp.on('message', (msg, rinfo) => {
      // send() would throw ERR_SOCKET_BAD_PORT in this handler, which ends the process.
      if (rinfo.port === 0) return this.dropPortZero()
      const reply = this.answer(state, msg, parseIpv4(rinfo.address) ?? 0, PLAIN_UDP_SIZE)
      if (reply === undefined) return
      if (reply instanceof Uint8Array) udp.send(reply, rinfo.port, rinfo.address)
      else void reply.then((r) => { if (r !== undefined) udp.send(r, rinfo.port, rinfo.address) })
    })
    return udp
  }

  /**
   * A new TCP client: outside the network's CIDR, or already holding its share of connections,
   * it is closed at once, before it costs a buffer or a timer.
   */
  private serveTcp(state: NetworkState, socket: TcpSocket): void {
    socket.on('error', () => socket.destroy())
    const client = parseIpv4(socket.remoteAddress?.replace(/^::ffff:/, '') ?? '') ?? 0
    if (!cidrContains(state.network.zone.cidr, client)) {
      this.dropped.outside++
      socket.destroy()
      return
    }
    if (!this.tcpSlots.acquire(client)) {
      this.dropped.tcpbusy++
      socket.destroy()
      return
    }
    const connection: DnsTcpConnection = new DnsTcpConnection(socket, (msg) => this.answer(state, msg, client, 65535), DEFAULT_TCP_LIMITS, () => {
      this.tcpSlots.release(client)
      this.tcpConnections.delete(connection)
    })
    this.tcpConnections.add(connection)
  }

  /**
   * The reply to one message from `client` (IPv4 as a number): bytes now (local or cached), a
   * promise (forwarded), or undefined (dropped). `maxUdp` is 512 for UDP (raised by the client's
   * EDNS0 size), 65535 for TCP. `msg` may be a view into a reused buffer: kept only by copy.
   */
  private answer(state: NetworkState, msg: Uint8Array, client: number, maxUdp: number): Uint8Array | Promise<Uint8Array | undefined> | undefined {
    const { network } = state
    if (!cidrContains(network.zone.cidr, client)) {
      this.dropped.outside++
      return undefined
    }
    const now = this.now()
    if (!this.limiter.allow(client, now, network.rateQps)) {
      this.dropped.ratelimit++
      return undefined
    }
    const q = parseQuery(msg)
    if (typeof q === 'string') {
      this.malformed++
      const problem = problemReply(msg, q)
      if (problem === undefined) { this.dropped.malformed++; return undefined }
      this.answered[problem.counter]++
      return problem.reply
    }
    const unserved = unservedReply(msg, q)
    if (unserved !== undefined) {
      this.answered[unserved.counter]++
      return unserved.reply
    }
    const maxSize = maxUdp === 65535 ? 65535 : Math.min(q.ednsSize ?? PLAIN_UDP_SIZE, EDNS_UDP_SIZE)
    const key = q.key
    const cached = state.cache.get(key, now)
    if (cached !== undefined) {
      this.answered.cache++
      return this.finish(replyFrom(cached.bytes, cached.ttlOffsets, cached.ages ? Math.floor((now - cached.storedAt) / 1000) : 0, msg, q, maxSize))
    }
    const local = this.localResponse(network.zone, msg, q)
    if (local === 'refuse') {
      this.answered.refused++
      return errorReply(msg, q, RCODE.REFUSED)
    }
    if (local !== undefined) {
      state.cache.set(key, { bytes: local, ttlOffsets: [], storedAt: now, expiresAt: Infinity, ages: false })
      this.answered.local++
      return this.finish(replyFrom(local, [], 0, msg, q, maxSize))
    }
    if (network.upstreams.length === 0) {
      this.answered.refused++
      return errorReply(msg, q, RCODE.REFUSED)
    }
    if (!state.inflight.has(key) && !this.upstreamSlots.acquire(network.zone.networkId)) {
      this.upstreamCapped++
      this.answered.servfail++
      return errorReply(msg, q, RCODE.SERVFAIL)
    }
    return this.forwarded(state, key, Buffer.from(msg), q, maxSize)
  }

  /** Nothing can be sent to UDP port 0: such a query is forged or broken, and an answer would fail to send. */
  private dropPortZero(): undefined {
    this.dropped.port0++
    return undefined
  }

  private finish(reply: Uint8Array): Uint8Array {
    if (((reply[2] as number) & 0x02) !== 0) this.answered.truncated++
    return reply
  }

  /** The zone's answer (built around the query's own question bytes), undefined when the name is not the zone's, or 'refuse'. */
  private localResponse(zone: Zone, msg: Uint8Array, q: ParsedQuery): Uint8Array | 'refuse' | undefined {
    const name = questionName(msg)
    const a = answerFromZone(zone, name, q.qtype)
    if (a === undefined) return undefined
    return encodeLocalAnswer(a, name, msg, q) ?? 'refuse'
  }

  /** A question not yet in flight comes with an upstream slot already taken (answer()); it is given back when the question settles. */
  private async forwarded(state: NetworkState, key: string, msg: Uint8Array, q: ParsedQuery, maxSize: number): Promise<Uint8Array> {
    let pending = state.inflight.get(key)
    if (pending === undefined) {
      const inflight = state.inflight
      const networkId = state.network.zone.networkId
      pending = this.ask(state, key, new Uint8Array(msg.subarray(12, q.questionEnd)))
      inflight.set(key, pending)
      void pending.finally(() => {
        inflight.delete(key)
        this.upstreamSlots.release(networkId)
      })
    }
    const stored = await pending
    if (stored === undefined) {
      this.answered.servfail++
      return errorReply(msg, q, RCODE.SERVFAIL)
    }
    this.answered.forwarded++
    return this.finish(replyFrom(stored.bytes, stored.ttlOffsets, 0, msg, q, maxSize))
  }

  private async ask(state: NetworkState, key: string, question: Uint8Array): Promise<Stored | undefined> {
    const { network, cache } = state
    try {
      const { bytes, layout } = await forward(network.upstreams, question)
      const plain = withoutOpt(bytes, layout.optAt)
      const plainLayout = layout.optAt < 0 ? layout : layoutOf(plain)
      if (plainLayout === undefined) return undefined
      // Answers and negative answers with an SOA are kept for their TTL; errors are not kept.
      const cacheable = (layout.rcode === RCODE.NOERROR || layout.rcode === RCODE.NXDOMAIN) && plainLayout.cacheSeconds !== undefined && plainLayout.cacheSeconds > 0
      if (cacheable) {
        const now = this.now()
        const seconds = Math.min(plainLayout.cacheSeconds as number, MAX_CACHE_SECONDS)
        cache.set(key, { bytes: plain, ttlOffsets: plainLayout.ttlOffsets, storedAt: now, expiresAt: now + seconds * 1000, ages: true })
      }
      return { bytes: plain, ttlOffsets: plainLayout.ttlOffsets }
    } catch (err) {
      this.log.warn({ err, upstreams: network.upstreams }, 'upstream resolvers did not answer')
      return undefined
    }
  }
}

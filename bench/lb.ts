#!/usr/bin/env node
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { StartedProcess } from '../src/core/exec.ts'
import { Lab, labRouterConfig } from '../src/lab/lab.ts'
import { cleanupOnSignals, onCleanup } from './lib/cleanup.ts'
import { waitTcpListen } from './lib/listen.ts'
import { cpuSince, namespaceCpu } from './lib/proc.ts'
import { machine, revision, runSuite, writeResults, type Result } from './lib/report.ts'
import { daemonCommand, Routerd } from './lib/routerd.ts'
import { median, percentile, round, sleep, summary } from './lib/stats.ts'
import { parseWrk, runWrk, type WrkReport } from './lib/wrk.ts'
import { HaproxyPeer, type HaproxyPeerMode, type HaproxyPeerRule } from './peers/haproxy.ts'
import { buildHttpBackend, startHttpBackend } from './peers/http-backend.ts'

/**
 * `make bench-lb`: routerd's load balancers against HAProxy as CloudStack's virtual router runs
 * it, in the same lab, with the same client, backends, router namespace, public IP and port:
 *
 *   lb_requests_per_s                  wrk (connections kept alive) from the internet namespace on
 *                                      http://203.0.113.10/ through routerd's kernel balancer
 *                                      (mode l4, tcp, roundrobin, 4 backends) vs HAProxy mode tcp
 *   lb_p99_latency                     wrk's p99 of the same runs (ours / HAProxy)
 *   lb_failed_requests_during_changes  failed requests of a connection-per-request load while 24
 *                                      backend changes (added, removed, drained, reweighted) are
 *                                      made through the API, in mode l4 and mode http (routerd's
 *                                      HAProxy, runtime API); the peer makes the same changes the
 *                                      CloudStack way (haproxy.cfg rewritten, a new HAProxy with
 *                                      -sf <old pid>, no expose-fd listeners), mode tcp and http
 *   lb_backend_change_p50_ms           PUT of a 100-backend load balancer with one backend changed,
 *                                      until the answer (given once the kernel holds it; checked
 *                                      with iptables-save after each), 50 samples
 *
 * The backends are 4 guest namespaces on the lab's first guest segment running
 * bench/peers/http-backend.c (one epoll thread, keep-alive, a 200 naming the backend). routerd
 * runs as the appliance runs it, idle during the peer's turns with the rule removed and the port
 * opened by a firewall rule instead, so HAProxy is reached through the same ingress path. Every
 * side is measured once per round, the order alternating; details keep every round.
 * Writes bench/results/lb.json.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/** Diagnosis only: BENCH_ONLY=requests,changes,change-time runs a subset, BENCH_ROUNDS=n changes the rounds; results then go to the temp dir. */
const ONLY = process.env['BENCH_ONLY']?.split(',')
const ROUNDS_ENV = process.env['BENCH_ROUNDS']
const OFFICIAL = ONLY === undefined && ROUNDS_ENV === undefined && process.env['BENCH_CHANGE_SIDES'] === undefined
const RESULTS = OFFICIAL ? join(ROOT, 'bench', 'results', 'lb.json') : join(tmpdir(), 'lb.json')
const want = (part: string) => ONLY === undefined || ONLY.includes(part)
const ROUNDS = Math.max(1, Math.min(20, Number(ROUNDS_ENV ?? 7)))
/** Diagnosis only: BENCH_CHANGE_SIDES=routerd-l4,… runs some of the change runs (results to the temp dir). */
const CHANGE_SIDES = process.env['BENCH_CHANGE_SIDES']?.split(',')

/** The lab config's source-NAT public IP (a load balancer may sit on it, as in CloudStack). */
const VIP = '203.0.113.10'
const VIP_PORT = 80
const BACKEND_PORT = 8080
const BACKENDS = [['b1', '10.1.1.21'], ['b2', '10.1.1.22'], ['b3', '10.1.1.23'], ['b4', '10.1.1.24']] as const
const URL_VIP = `http://${VIP}/`
/**
 * The client: wrk in the lab's internet namespace (its source 203.0.113.1, the public gateway).
 * A connection per request leaves the client's ports in TIME_WAIT; the full range and reuse keep
 * connect() from crawling (see bench-metadata).
 */
const CLIENT_SYSCTLS = ['net.ipv4.ip_local_port_range=1024 65535', 'net.ipv4.tcp_tw_reuse=1']

/**
 * Requests: one wrk thread (2 cores: the client, the balancer and the backends share them).
 * The headline is `keepalive` at 64 connections (16 a backend): enough for HAProxy to be bound by
 * CPU, its best rate here, so the ratio compares capacity, not one extra hop's latency. Chosen
 * before the runs. The same load at 8 and 256 connections and a connection per request (`close`)
 * are kept in details: the ratio depends on the concurrency.
 */
const KINDS = ['keepalive', 'keepalive8', 'keepalive256', 'close'] as const
type Kind = (typeof KINDS)[number]
const HEADLINE: Kind = 'keepalive'
const WRK: Record<Kind, { seconds: number; threads: number; connections: number; headers: string[] }> = {
  keepalive: { seconds: 5, threads: 1, connections: 64, headers: [] },
  keepalive8: { seconds: 5, threads: 1, connections: 8, headers: [] },
  keepalive256: { seconds: 5, threads: 1, connections: 256, headers: [] },
  close: { seconds: 5, threads: 1, connections: 16, headers: ['Connection: close'] },
}
const WARMUP_SECONDS = 1
type Side = 'routerd' | 'haproxy'

/** Changes: a connection per request, 8 at a time, from before the first change until after the last. */
const CHANGE_LOAD = { threads: 1, connections: 8, headers: ['Connection: close'] }
const CHANGE_PAUSE_MS = 200
const LOAD_LEAD_MS = 1000
const LOAD_TAIL_MS = 500
/**
 * The backends after each change: weights of b1, b2, … (0 drains; a missing one is removed).
 * 24 changes: additions, removals, drains and reweights, every backend in and out.
 */
const STEPS: readonly (readonly number[])[] = [
  [1, 1, 1], [1, 0, 1], [0, 3, 1], [2, 1], [1, 1, 1, 1], [1], [1, 1], [1, 2, 1, 1],
  [1, 1, 0, 1], [3, 1], [1, 1, 1], [1, 1, 1, 1], [0, 1, 1, 1], [1, 0, 2, 1], [1, 1, 1, 0], [2, 2, 1],
  [1, 1], [1, 1, 1, 1], [4, 1, 1, 1], [1, 1, 1, 4], [1, 1, 1], [1, 2], [1, 1, 1, 1], [1, 1, 1],
]
const INITIAL_STEP = [1, 1] as const
type ChangeSide = 'routerd-l4' | 'routerd-http' | 'cloudstack-tcp' | 'cloudstack-http'

/** Change time: a rule with 100 backends, 50 samples. */
const BIG_BACKENDS = 100
const BIG_SAMPLES = 50
const BIG_PORT = 81
const bigIp = (i: number) => `10.1.1.${100 + i}`
const movedIp = (i: number) => `10.1.1.${200 + i}`
const CLOUDSTACK_RELOAD_SAMPLES = 10

const PEER_NAMES = {
  requests: 'HAProxy 2.6 (Debian) mode tcp as CloudStack\'s VR configures it (maxconn 4096, balance roundrobin, a server line per backend, HAProxy\'s default threads), on the same router namespace, public IP and port, the same 4 backends; routerd idle with the rule removed and the port opened by a firewall rule',
  changes: 'the CloudStack way under the same load and changes: haproxy.cfg rewritten, checked (haproxy -c), a new HAProxy started with -sf <old pid> (no master, no expose-fd listeners); mode tcp and mode http, summed over the same runs',
}

const results: Result[] = []
const notes: string[] = []
const details: Record<string, unknown> = {}

function log(message: string): void {
  process.stderr.write(`[bench-lb] ${message}\n`)
}

type Weights = readonly number[]

/** The backends of a step: b1..bn with the step's weights. */
function backendsOf(weights: Weights): { name: string; ip: string; port: number; weight: number }[] {
  return weights.map((weight, i) => ({ name: BACKENDS[i]![0], ip: BACKENDS[i]![1], port: BACKEND_PORT, weight }))
}

function lbItem(mode: 'l4' | 'http', weights: Weights): Record<string, unknown> {
  return {
    id: 'web', publicIp: VIP, protocol: 'tcp', publicPorts: { start: VIP_PORT }, privatePorts: { start: BACKEND_PORT }, algorithm: 'roundrobin', mode,
    backends: weights.map((weight, i) => ({ ip: BACKENDS[i]![1], weight })),
  }
}

const lbConfig = (mode: 'l4' | 'http', weights: Weights) => ({ ...labRouterConfig(), loadBalancers: [lbItem(mode, weights)] })
/** The peer's turn: no load balancer, the port opened to everyone on the same public IP (CloudStack opens the rule's port for HAProxy). */
const peerConfig = () => ({ ...labRouterConfig(), firewallRules: [{ id: 'lb-peer', publicIp: VIP, protocol: 'tcp', ports: { start: VIP_PORT } }] })

function peerRule(mode: HaproxyPeerMode, weights: Weights): HaproxyPeerRule {
  return { mode, listen: VIP, port: VIP_PORT, backends: backendsOf(weights) }
}

/** Busy CPU time of the whole machine so far (user, nice, system, irq, softirq, steal of /proc/stat), ms. */
function machineBusyMs(): number {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f
  return ((user + nice + system + irq + softirq + steal) * 1000) / 100
}

/**
 * CPU ms of this process's exited and reaped children so far (cutime + cstime of /proc/self/stat):
 * wrk's own CPU, read around its run (it is our child: `ip netns exec` execs it).
 */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100
}

/** The lab, the backends and routerd for the whole suite. */
class Bench {
  private peer: HaproxyPeer
  private state: 'none' | 'l4' | 'http' | 'peer' = 'none'

  constructor(readonly lab: Lab, readonly routerd: Routerd, readonly dir: string, readonly backendNamespaces: readonly string[]) {
    this.peer = new HaproxyPeer(lab, lab.ns.rtr, dir, `${VIP}:${VIP_PORT}`)
    onCleanup('haproxy peer', () => this.peer.stop().catch(() => undefined))
  }

  /** PUTs the whole config and, for mode http, waits until routerd's HAProxy serves its generation. */
  async putConfig(doc: Record<string, unknown>, mode: 'l4' | 'http' | 'peer'): Promise<void> {
    const r = await this.routerd.api.ok('PUT', '/v1/config', JSON.stringify(doc))
    if (mode === 'http') await this.waitHaproxy(r.body.generation as number)
    if (mode !== 'http') await waitTcpListen(this.lab, this.lab.ns.rtr, [`${VIP}:${VIP_PORT}`], false)
    this.state = mode
  }

  /** Until routerd's HAProxy serves `generation` (bounded: 5 s). */
  async waitHaproxy(generation: number): Promise<void> {
    for (let i = 0; i < 250; i++) {
      const haproxy = (await this.routerd.api.ok('GET', '/v1/lb')).body.haproxy
      if (haproxy.lastError !== null && haproxy.lastError !== undefined) throw new Error(`routerd's haproxy: ${JSON.stringify(haproxy.lastError)}`)
      if (haproxy.generation >= generation) return
      await sleep(20)
    }
    throw new Error(`routerd's haproxy did not take generation ${generation} within 5 s`)
  }

  async useRouterd(mode: 'l4' | 'http', weights: Weights): Promise<void> {
    await this.peer.stop()
    await this.putConfig(lbConfig(mode, weights), mode)
    await this.forgetConnections()
  }

  async usePeer(mode: HaproxyPeerMode, weights: Weights): Promise<void> {
    await this.peer.stop()
    if (this.state !== 'peer') await this.putConfig(peerConfig(), 'peer')
    await this.forgetConnections()
    await this.peer.start(peerRule(mode, weights))
  }

  /**
   * Each side starts without the connection-tracking entries the side before left on the VIP.
   * A side that served the VIP itself (HAProxy) leaves entries without NAT, in CLOSE after its
   * resets (10 s) or TIME_WAIT (120 s); a client SYN that reuses such an entry's ports takes the
   * entry over (CLOSE → SYN_SENT keeps the entry and its absence of NAT), so the kernel side would
   * answer it from the router's own stack, a reset (seen as 8-15 failed writes in some runs).
   */
  private async forgetConnections(): Promise<void> {
    await this.lab.exec(this.lab.ns.rtr, 'conntrack', ['-D', '-d', VIP], { okCodes: [0, 1] })
  }

  get haproxyPeer(): HaproxyPeer {
    return this.peer
  }

  async stopPeer(): Promise<void> {
    await this.peer.stop()
  }

  /** `n` requests, each on its own connection, from the client: the backends that answered, counted; throws on a failure. */
  async spread(n: number): Promise<Record<string, number>> {
    const r = await this.lab.exec(this.lab.ns.inet, 'curl', ['-s', '--max-time', '5', '-H', 'Connection: close', '-w', '\t%{http_code}\n', `${URL_VIP}?[1-${n}]`], { timeoutMs: 30_000, okCodes: [0, 7, 28, 52, 56] })
    // Each answer is the body "<backend>\n" then "\t<status>\n" (curl's -w); a failed request has no body and status 000.
    const counts: Record<string, number> = {}
    const answers = [...r.stdout.matchAll(/(?:^|\n)([^\t\n]*)\n?\t(\d{3})(?=\n|$)/g)]
    for (const [, name, status] of answers) {
      if (status !== '200' || name === undefined || name === '') throw new Error(`a request through the balancer failed (curl exit ${r.exitCode}, status ${status}): ${r.stdout.slice(-500)}`)
      counts[name] = (counts[name] ?? 0) + 1
    }
    if (answers.length !== n) throw new Error(`${answers.length} of ${n} requests answered (curl exit ${r.exitCode}): ${r.stdout.slice(-500)}`)
    return counts
  }

  /** Every backend of `weights` (weight > 0) answers, and no other. */
  async checkServing(weights: Weights): Promise<void> {
    const expected = backendsOf(weights).filter((b) => b.weight > 0).map((b) => b.name).sort()
    const counts = await this.spread(expected.length * 4)
    const seen = Object.keys(counts).sort()
    if (JSON.stringify(seen) !== JSON.stringify(expected)) throw new Error(`backends answering: ${JSON.stringify(counts)}, expected ${expected.join(', ')}`)
  }
}

// ---------------------------------------------------------------- requests/s and latency

interface Sample {
  requestsPerS: number
  requests: number
  latencyMs: WrkReport['latencyMs']
  /** CPU µs per request of the lab's processes: wrk (client), the 4 backends, the router namespace (HAProxy, idle routerd); the kernel's work lands on whichever runs it. */
  cpuUsPerRequest: { client: number; backends: number; router: number; total: number }
  /** Busy CPU µs per request of the whole machine (/proc/stat; other tenants of a shared machine included). */
  machineCpuUsPerRequest: number
  /** Share of the 2 cores busy during the run, whole machine. */
  machineBusy: number
}

async function measure(b: Bench, kind: Kind): Promise<Sample> {
  const o = WRK[kind]
  await runWrk(b.lab, b.lab.ns.inet, URL_VIP, { ...o, seconds: WARMUP_SECONDS })
  const groups = [b.backendNamespaces, [b.lab.ns.rtr]]
  const before = await Promise.all(groups.map((g) => namespaceCpu(g)))
  const m0 = machineBusyMs()
  const c0 = childrenCpuMs()
  const t0 = performance.now()
  const r = await runWrk(b.lab, b.lab.ns.inet, URL_VIP, o)
  const wallMs = performance.now() - t0
  const client = childrenCpuMs() - c0
  const machineMs = machineBusyMs() - m0
  const after = await Promise.all(groups.map((g) => namespaceCpu(g)))
  const errors = r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout
  if (r.non2xx > 0 || errors > 0) throw new Error(`${kind}: ${r.non2xx} non-2xx answers and ${errors} socket errors of ${r.requests} requests`)
  const us = (ms: number) => round((ms * 1000) / r.requests, 1)
  const [backends, router] = before.map((m, i) => cpuSince(m, after[i]!)) as [number, number]
  return {
    requestsPerS: round(r.requestsPerS, 0), requests: r.requests, latencyMs: r.latencyMs,
    cpuUsPerRequest: { client: us(client), backends: us(backends), router: us(router), total: us(client + backends + router) },
    machineCpuUsPerRequest: us(machineMs), machineBusy: round(machineMs / (wallMs * 2), 2),
  }
}

function range(samples: readonly number[], digits = 0): { min: number; median: number; max: number } {
  return { min: round(Math.min(...samples), digits), median: round(median(samples), digits), max: round(Math.max(...samples), digits) }
}

const fmt = (r: { min: number; median: number; max: number }) => `${r.min}/${r.median}/${r.max}`

const KIND_WORDS: Record<Kind, string> = {
  keepalive: 'connections kept alive, the headline', keepalive8: 'kept alive, 8 connections, details only', keepalive256: 'kept alive, 256 connections, details only', close: 'a connection per request, details only',
}

async function benchRequests(b: Bench): Promise<void> {
  const weights = [1, 1, 1, 1]
  const samples = Object.fromEntries(KINDS.map((k) => [k, { routerd: [] as Sample[], haproxy: [] as Sample[] }])) as Record<Kind, Record<Side, Sample[]>>
  const rounds: unknown[] = []
  const spreads: Record<Side, Record<string, number>[]> = { routerd: [], haproxy: [] }
  for (let k = 0; k < ROUNDS; k++) {
    const order: Side[] = k % 2 === 0 ? ['routerd', 'haproxy'] : ['haproxy', 'routerd']
    const record: Record<string, unknown> = { order, loadAverage: loadavg().map((l) => round(l, 2)) }
    for (const side of order) {
      await (side === 'routerd' ? b.useRouterd('l4', weights) : b.usePeer('tcp', weights))
      await b.checkServing(weights)
      // Round robin per connection: 8 connections, 2 per backend, on both sides.
      spreads[side].push(await b.spread(8))
      for (const kind of KINDS) {
        const s = await measure(b, kind)
        samples[kind][side].push(s)
        record[`${side}-${kind}`] = s
      }
      if (side === 'haproxy') await b.stopPeer()
    }
    rounds.push(record)
    const last = (kind: Kind, side: Side) => samples[kind][side].at(-1)
    log(`requests round ${k + 1}/${ROUNDS} (${order.join(', ')}; load ${loadavg()[0]?.toFixed(1)}): ` + KINDS.map((kind) => `${kind} routerd ${last(kind, 'routerd')?.requestsPerS}/s p99 ${last(kind, 'routerd')?.latencyMs.p99} ms, haproxy ${last(kind, 'haproxy')?.requestsPerS}/s p99 ${last(kind, 'haproxy')?.latencyMs.p99} ms`).join('; '))
  }
  const rps = (kind: Kind, side: Side) => samples[kind][side].map((s) => s.requestsPerS)
  const p99 = (kind: Kind, side: Side) => samples[kind][side].map((s) => s.latencyMs.p99)
  const p50 = (kind: Kind, side: Side) => samples[kind][side].map((s) => s.latencyMs.p50)
  const cpu = (kind: Kind, side: Side) => samples[kind][side].map((s) => s.cpuUsPerRequest.total)
  const machineCpu = (kind: Kind, side: Side) => samples[kind][side].map((s) => s.machineCpuUsPerRequest)
  details['requests'] = { url: URL_VIP, client: 'wrk in the lab\'s internet namespace (source 203.0.113.1)', backends: BACKENDS.map(([name, ip]) => `${name} ${ip}:${BACKEND_PORT}`), headline: HEADLINE, wrk: WRK, warmupSeconds: WARMUP_SECONDS, clientSysctls: CLIENT_SYSCTLS, spreads, rounds }

  const ratioDetails = (ours: number[], peer: number[]) => {
    const perRound = ours.map((v, i) => v / (peer[i] as number))
    return { ours, peer, ours_range: range(ours, 3), peer_range: range(peer, 3), ratio_per_round: perRound.map((r) => round(r, 3)), ratio_range: range(perRound, 3) }
  }
  const rpsOurs = rps(HEADLINE, 'routerd')
  const rpsPeer = rps(HEADLINE, 'haproxy')
  const rpsRatio = round(median(rpsOurs) / median(rpsPeer), 3)
  results.push({ name: 'lb_requests_per_s', unit: 'requests/s', ours: round(median(rpsOurs), 0), peer: PEER_NAMES.requests, peer_value: round(median(rpsPeer), 0), ratio: rpsRatio, target: 'ratio >= 1.5', pass: rpsRatio >= 1.5 })
  details['lb_requests_per_s'] = ratioDetails(rpsOurs, rpsPeer)
  const latOurs = p99(HEADLINE, 'routerd')
  const latPeer = p99(HEADLINE, 'haproxy')
  const latRatio = round(median(latOurs) / median(latPeer), 3)
  results.push({ name: 'lb_p99_latency', unit: 'ms', ours: round(median(latOurs), 3), peer: `${PEER_NAMES.requests} (wrk's p99 of the same runs)`, peer_value: round(median(latPeer), 3), ratio: latRatio, target: 'ratio <= 1.0', pass: latRatio <= 1.0 })
  details['lb_p99_latency'] = ratioDetails(latOurs, latPeer)
  details['requests_other_loads'] = Object.fromEntries(KINDS.filter((k) => k !== HEADLINE).map((k) => [k, { wrk: WRK[k], requestsPerS: ratioDetails(rps(k, 'routerd'), rps(k, 'haproxy')), p99Ms: ratioDetails(p99(k, 'routerd'), p99(k, 'haproxy')) }]))
  const part = (kind: Kind, side: Side, key: keyof Sample['cpuUsPerRequest']) => fmt(range(samples[kind][side].map((s) => s.cpuUsPerRequest[key]), 1))
  for (const kind of KINDS) {
    const o = WRK[kind]
    const perRound = rps(kind, 'routerd').map((v, i) => v / (rps(kind, 'haproxy')[i] as number))
    const p99Round = p99(kind, 'routerd').map((v, i) => v / (p99(kind, 'haproxy')[i] as number))
    notes.push(`requests (${KIND_WORDS[kind]}): wrk -t${o.threads} -c${o.connections}${o.headers.length > 0 ? ` -H '${o.headers.join("' -H '")}'` : ''} ${o.seconds} s, ${ROUNDS} rounds alternating, min/median/max: ` +
      `routerd ${fmt(range(rps(kind, 'routerd')))} requests/s, p50 ${fmt(range(p50(kind, 'routerd'), 3))} ms, p99 ${fmt(range(p99(kind, 'routerd'), 2))} ms; ` +
      `haproxy ${fmt(range(rps(kind, 'haproxy')))} requests/s, p50 ${fmt(range(p50(kind, 'haproxy'), 3))} ms, p99 ${fmt(range(p99(kind, 'haproxy'), 2))} ms; ` +
      `per round routerd / haproxy: requests ${fmt(range(perRound, 2))}, p99 ${fmt(range(p99Round, 2))}; ` +
      `lab CPU µs per request routerd ${fmt(range(cpu(kind, 'routerd'), 1))} (wrk ${part(kind, 'routerd', 'client')}, backends ${part(kind, 'routerd', 'backends')}), ` +
      `haproxy ${fmt(range(cpu(kind, 'haproxy'), 1))} (wrk ${part(kind, 'haproxy', 'client')}, backends ${part(kind, 'haproxy', 'backends')}, HAProxy ${part(kind, 'haproxy', 'router')}); ` +
      `whole machine µs per request routerd ${fmt(range(machineCpu(kind, 'routerd'), 1))}, haproxy ${fmt(range(machineCpu(kind, 'haproxy'), 1))}`)
  }
}

// ---------------------------------------------------------------- failures during changes

interface ChangeRun {
  side: ChangeSide
  requests: number
  failed: number
  non2xx: number
  socketErrors: WrkReport['socketErrors']
  loadSeconds: number
  changes: number
  /** Each change: until routerd answered (and for mode http until its HAProxy served the generation), or the peer's rewrite + check + reload. */
  changeMs: ReturnType<typeof summary>
  /** TCP resets sent (nstat TcpOutRsts) during the run by the router's own stack, the backends and the client: who refused or cut connections. */
  resetsSent: { router: number; backends: number; client: number }
  /** ICMP destination-unreachable messages the router sent during the run (nstat IcmpOutDestUnreachs). */
  routerUnreachablesSent: number
  /** The peer: reloads after which the old process had not exited within 3 s. */
  oldStillRunning?: number
}

/** A counter of the namespaces' stacks so far, summed (nstat's absolute value, its history untouched). */
async function stackCounter(lab: Lab, namespaces: readonly string[], counter = 'TcpOutRsts'): Promise<number> {
  let sum = 0
  for (const ns of namespaces) {
    const r = await lab.exec(ns, 'nstat', ['-asz', counter])
    sum += Number(new RegExp(`${counter}\\s+(\\d+)`).exec(r.stdout)?.[1] ?? NaN)
  }
  return sum
}

/** wrk's report once it was stopped with SIGINT (it prints its report then). */
async function stopWrk(p: StartedProcess): Promise<WrkReport> {
  p.kill('SIGINT')
  await p.exited
  return parseWrk(p.output())
}

async function changeRun(b: Bench, side: ChangeSide): Promise<ChangeRun> {
  const mode = side === 'routerd-l4' ? 'l4' : 'http'
  if (side.startsWith('routerd')) await b.useRouterd(mode, INITIAL_STEP)
  else await b.usePeer(side === 'cloudstack-tcp' ? 'tcp' : 'http', INITIAL_STEP)
  await b.checkServing(INITIAL_STEP)
  const stacks = { router: [b.lab.ns.rtr], backends: b.backendNamespaces, client: [b.lab.ns.inet] }
  const rst0 = { router: await stackCounter(b.lab, stacks.router), backends: await stackCounter(b.lab, stacks.backends), client: await stackCounter(b.lab, stacks.client) }
  const icmp0 = await stackCounter(b.lab, stacks.router, 'IcmpOutDestUnreachs')
  // Long enough to outlast every change (bounded); stopped with SIGINT after the last one.
  const load = b.lab.start(b.lab.ns.inet, 'wrk', ['-t', String(CHANGE_LOAD.threads), '-c', String(CHANGE_LOAD.connections), '-d', '90s', '--latency', '--timeout', '5s', ...CHANGE_LOAD.headers.flatMap((h) => ['-H', h]), URL_VIP])
  const killLoad = onCleanup('wrk under changes', () => load.kill('SIGKILL'))
  const t0 = performance.now()
  await sleep(LOAD_LEAD_MS)
  const times: number[] = []
  let oldStillRunning = 0
  for (const weights of STEPS) {
    await sleep(CHANGE_PAUSE_MS)
    const c0 = performance.now()
    if (side.startsWith('routerd')) {
      const r = await b.routerd.api.ok('PUT', '/v1/config/loadBalancers/web', JSON.stringify(lbItem(mode, weights)))
      if (mode === 'http') await b.waitHaproxy(r.body.generation as number)
    } else {
      const t = await b.haproxyPeer.reload(peerRule(side === 'cloudstack-tcp' ? 'tcp' : 'http', weights))
      if (!t.oldExited) oldStillRunning++
    }
    times.push(performance.now() - c0)
  }
  await sleep(LOAD_TAIL_MS)
  if (performance.now() - t0 > 85_000) throw new Error(`${side}: the changes took longer than the load (${round((performance.now() - t0) / 1000, 1)} s)`)
  const r = await stopWrk(load)
  await killLoad()
  const resets = { router: await stackCounter(b.lab, stacks.router) - rst0.router, backends: await stackCounter(b.lab, stacks.backends) - rst0.backends, client: await stackCounter(b.lab, stacks.client) - rst0.client }
  const unreachables = await stackCounter(b.lab, stacks.router, 'IcmpOutDestUnreachs') - icmp0
  const errors = r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout
  await b.checkServing(STEPS.at(-1)!).catch((err: Error) => { throw new Error(`${side}: after the changes: ${err.message}`) })
  if (side.startsWith('cloudstack')) await b.stopPeer()
  return {
    side, requests: r.requests, failed: r.non2xx + errors, non2xx: r.non2xx, socketErrors: r.socketErrors, loadSeconds: round((performance.now() - t0) / 1000, 1), changes: times.length, changeMs: summary(times, 1), resetsSent: resets, routerUnreachablesSent: unreachables,
    ...(side.startsWith('cloudstack') ? { oldStillRunning } : {}),
  }
}

async function benchChanges(b: Bench): Promise<void> {
  const rounds: { order: ChangeSide[]; runs: ChangeRun[] }[] = []
  for (let k = 0; k < ROUNDS; k++) {
    const all: ChangeSide[] = k % 2 === 0 ? ['routerd-l4', 'routerd-http', 'cloudstack-tcp', 'cloudstack-http'] : ['cloudstack-tcp', 'cloudstack-http', 'routerd-l4', 'routerd-http']
    const order = all.filter((s) => CHANGE_SIDES === undefined || CHANGE_SIDES.includes(s))
    const runs: ChangeRun[] = []
    for (const side of order) runs.push(await changeRun(b, side))
    rounds.push({ order, runs })
    log(`changes round ${k + 1}/${ROUNDS} (load ${loadavg()[0]?.toFixed(1)}): ` + runs.map((r) => `${r.side} ${r.failed} failed of ${r.requests} (change p50 ${r.changeMs.median} ms; resets sent ${JSON.stringify(r.resetsSent)}, router unreachables ${r.routerUnreachablesSent}; ${JSON.stringify(r.socketErrors)})`).join('; '))
  }
  const all = rounds.flatMap((r) => r.runs)
  const of = (side: ChangeSide) => all.filter((r) => r.side === side)
  const total = (side: ChangeSide) => of(side).reduce((s, r) => s + r.failed, 0)
  const ours = total('routerd-l4') + total('routerd-http')
  const peer = total('cloudstack-tcp') + total('cloudstack-http')
  results.push({ name: 'lb_failed_requests_during_changes', unit: 'failed requests', ours, peer: PEER_NAMES.changes, peer_value: peer, ratio: peer > 0 ? round(ours / peer, 4) : null, target: 'ours = 0', pass: ours === 0 })
  details['lb_failed_requests_during_changes'] = {
    what: `failed requests (wrk: non-2xx answers + connect, read, write and timeout errors) of wrk -t${CHANGE_LOAD.threads} -c${CHANGE_LOAD.connections} with ${CHANGE_LOAD.headers.join(', ')} from ${LOAD_LEAD_MS} ms before the first of ${STEPS.length} changes (${CHANGE_PAUSE_MS} ms apart) until ${LOAD_TAIL_MS} ms after the last; ours and peer_value are sums over ${ROUNDS} rounds of both modes`,
    steps: STEPS, initial: INITIAL_STEP,
    bySide: Object.fromEntries((['routerd-l4', 'routerd-http', 'cloudstack-tcp', 'cloudstack-http'] as const).map((s) => [s, { failed: of(s).map((r) => r.failed), requests: of(s).map((r) => r.requests), changeMsMedian: of(s).map((r) => r.changeMs.median) }])),
    rounds,
  }
  const line = (s: ChangeSide) => of(s).length === 0 ? `${s} not run` : `${s} ${of(s).map((r) => r.failed).join('/')} failed of ~${round(median(of(s).map((r) => r.requests)), 0)} requests a run (change p50 ${fmt(range(of(s).map((r) => r.changeMs.median), 1))} ms; resets sent by router/backends/client ${of(s).map((r) => `${r.resetsSent.router}/${r.resetsSent.backends}/${r.resetsSent.client}`).join(' ')})`
  notes.push(`changes: ${STEPS.length} backend changes a run under a connection-per-request load, ${ROUNDS} rounds, per run: ` + (['routerd-l4', 'routerd-http', 'cloudstack-tcp', 'cloudstack-http'] as const).map(line).join('; '))
}

// ---------------------------------------------------------------- change time with 100 backends

function bigItem(moved: number): Record<string, unknown> {
  return {
    id: 'big', publicIp: VIP, protocol: 'tcp', publicPorts: { start: BIG_PORT }, privatePorts: { start: BACKEND_PORT }, algorithm: 'roundrobin', mode: 'l4',
    backends: Array.from({ length: BIG_BACKENDS }, (_, i) => ({ ip: i < moved ? movedIp(i) : bigIp(i) })),
  }
}

async function benchChangeTime(b: Bench): Promise<void> {
  await b.stopPeer()
  await b.putConfig({ ...labRouterConfig(), loadBalancers: [bigItem(0)] }, 'l4')
  const saved = async () => (await b.lab.exec(b.lab.ns.rtr, 'iptables-save', ['-t', 'nat'])).stdout
  const dnats = (text: string) => new Set([...text.matchAll(/--to-destination (\S+)/g)].map((m) => m[1]))
  const first = dnats(await saved())
  for (let i = 0; i < BIG_BACKENDS; i++) if (!first.has(`${bigIp(i)}:${BACKEND_PORT}`)) throw new Error(`the kernel lacks backend ${bigIp(i)} of the 100-backend rule`)
  const answerMs: number[] = []
  const serverMs: number[] = []
  const checkMs: number[] = []
  for (let i = 0; i < BIG_SAMPLES; i++) {
    const t0 = performance.now()
    const r = await b.routerd.api.ok('PUT', '/v1/config/loadBalancers/big', JSON.stringify(bigItem(i + 1)))
    const t1 = performance.now()
    const now = dnats(await saved())
    const t2 = performance.now()
    if (!now.has(`${movedIp(i)}:${BACKEND_PORT}`) || now.has(`${bigIp(i)}:${BACKEND_PORT}`)) throw new Error(`sample ${i}: the kernel does not hold the change after the answer (${movedIp(i)} in, ${bigIp(i)} out)`)
    answerMs.push(t1 - t0)
    serverMs.push(r.ms)
    checkMs.push(t2 - t0)
  }
  const p50 = round(median(answerMs), 1)
  results.push({ name: 'lb_backend_change_p50_ms', unit: 'ms', ours: p50, peer: null, peer_value: null, ratio: null, target: 'ours <= 50 ms', pass: p50 <= 50 })
  // For scale, not a peer: the same change the CloudStack way (rewrite, check, a new HAProxy with -sf) with 100 servers.
  await b.putConfig({ ...labRouterConfig(), firewallRules: [{ id: 'lb-peer', publicIp: VIP, protocol: 'tcp', ports: { start: BIG_PORT } }] }, 'peer')
  const bigRule = (moved: number): HaproxyPeerRule => ({ mode: 'tcp', listen: VIP, port: BIG_PORT, backends: Array.from({ length: BIG_BACKENDS }, (_, i) => ({ name: `v${i}`, ip: i < moved ? movedIp(i) : bigIp(i), port: BACKEND_PORT, weight: 1 })) })
  const bigPeer = new HaproxyPeer(b.lab, b.lab.ns.rtr, b.dir, `${VIP}:${BIG_PORT}`)
  onCleanup('haproxy peer (100 servers)', () => bigPeer.stop().catch(() => undefined))
  await bigPeer.start(bigRule(0))
  const reloads: number[] = []
  for (let i = 0; i < CLOUDSTACK_RELOAD_SAMPLES; i++) reloads.push((await bigPeer.reload(bigRule(i + 1))).totalMs)
  await bigPeer.stop()
  details['lb_backend_change_p50_ms'] = {
    what: `PUT /v1/config/loadBalancers/big (mode l4, ${BIG_BACKENDS} backends) with backend i moved to another address, sample i; the time from sending to the answer (routerd answers once the kernel holds the change), then iptables-save -t nat checks the new DNAT is in and the old one out`,
    answerMs: summary(answerMs, 1), answerMsByRouterdClient: summary(serverMs, 1), answerPlusCheckMs: summary(checkMs, 1), p90AnswerMs: round(percentile(answerMs, 90), 1),
    cloudstackReloadMs: { what: `for scale, not a peer: the same change the CloudStack way with ${BIG_BACKENDS} servers (haproxy.cfg rewritten, haproxy -c, a new HAProxy with -sf, until the old one exited)`, ...summary(reloads, 1) },
  }
  notes.push(`backend change with ${BIG_BACKENDS} backends: PUT answered p50 ${p50} ms (p90 ${round(percentile(answerMs, 90), 1)}, min/max ${round(Math.min(...answerMs), 1)}/${round(Math.max(...answerMs), 1)}), answer + iptables-save check p50 ${round(median(checkMs), 1)} ms; ` +
    `the CloudStack way (rewrite, check, reload) p50 ${round(median(reloads), 1)} ms, for scale`)
}

// ---------------------------------------------------------------- main

async function versions(lab: Lab): Promise<Record<string, string>> {
  const first = async (tool: string, args: string[]) => {
    const r = await lab.exec(lab.ns.inet, tool, args, { okCodes: [0, 1] }).catch(() => ({ stdout: '?', stderr: '' }))
    return (r.stdout + r.stderr).trim().split('\n')[0] ?? '?'
  }
  return { haproxy: await first('haproxy', ['-v']), wrk: await first('wrk', ['-v']), curl: await first('curl', ['--version']) }
}

async function main(): Promise<void> {
  const started = performance.now()
  if (process.getuid?.() !== 0) throw new Error('bench-lb needs root (network namespaces)')
  cleanupOnSignals()
  const loadAverage = { atStart: loadavg().map((l) => round(l, 2)), atEnd: [] as number[] }
  const lab = await Lab.create('svmbench')
  onCleanup(`lab ${lab.id}`, () => lab.destroy())
  const daemon = daemonCommand(ROOT)
  log(`lab ${lab.id}; routerd: ${daemon.source}`)
  const dir = mkdtempSync(join(tmpdir(), 'bench-lb-'))
  onCleanup(`temp dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }))
  await lab.exec(lab.ns.inet, 'sysctl', ['-q', '-w', ...CLIENT_SYSCTLS])
  const backend = await buildHttpBackend(join(ROOT, 'bench', 'peers'), dir)
  const backendNamespaces: string[] = []
  for (const [name, ip] of BACKENDS) {
    const ns = await lab.addVm(name, ip)
    backendNamespaces.push(ns)
    await startHttpBackend(lab, ns, { binary: backend, listen: '0.0.0.0', port: BACKEND_PORT, name })
  }
  details['versions'] = await versions(lab)
  const routerd = await Routerd.start(lab, daemon.command, { logLevel: 'warn' })
  const b = new Bench(lab, routerd, dir, backendNamespaces)
  if (want('requests')) await benchRequests(b)
  if (want('changes')) await benchChanges(b)
  if (want('change-time')) await benchChangeTime(b)
  await routerd.stop()
  const order = ['lb_requests_per_s', 'lb_p99_latency', 'lb_failed_requests_during_changes', 'lb_backend_change_p50_ms']
  results.sort((a, c) => order.indexOf(a.name) - order.indexOf(c.name))
  const doc = {
    suite: 'lb',
    target: 'lb_requests_per_s (kernel l4 vs HAProxy mode tcp as CloudStack\'s VR runs it) ratio >= 1.5; lb_p99_latency ratio <= 1.0; lb_failed_requests_during_changes ours = 0 (peer: the CloudStack reload); lb_backend_change_p50_ms <= 50 ms with 100 backends',
    machine: await machine(), loadAverage: { ...loadAverage, atEnd: loadavg().map((l) => round(l, 2)) }, daemon: daemon.source, revision: await revision(ROOT), generatedAt: new Date().toISOString(),
    durationS: round((performance.now() - started) / 1000, 1), results, notes, details,
  }
  writeResults(RESULTS, doc)
}

await runSuite('bench-lb', main)

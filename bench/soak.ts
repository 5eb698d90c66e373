#!/usr/bin/env node
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { StartedProcess } from '../src/core/exec.ts'
import { Lab, LAB_ADDR } from '../src/lab/lab.ts'
import { parseUnitFile, unitValue } from '../src/lab/unit-file.ts'
import { onCleanup } from './lib/cleanup.ts'
import { benchConfig, FORWARD_DOMAIN, hostMac, hostName, NET, parseDnsperf, parsePerfdhcp, perfdhcpRelays, openGuestLab, type DnsperfReport, type PerfdhcpReport } from './lib/guest-load.ts'
import { memory } from './lib/proc.ts'
import { machine, revision, runSuite, writeResults, type Result } from './lib/report.ts'
import { daemonCommand, Routerd } from './lib/routerd.ts'
import { percentile, round, sleep } from './lib/stats.ts'

/**
 * `make bench-soak`: routerd, started as the appliance unit starts it, under mixed load for
 * SOAK_SECONDS (default 600) in the lab, to make leaks and lost answers show:
 *
 *   vm3 (bench network, 1,000 static hosts)  perfdhcp: exchanges and renewals (well-behaved)
 *                                            dnsperf: local and forwarded names (well-behaved;
 *                                            the upstream is dnsmasq in the internet namespace)
 *   vm1 (lab network)                        a TCP DNS client that pipelines queries to the
 *                                            router's TCP/53 and never reads
 *   vm2 (lab network)                        garbage DHCP and DNS datagrams
 *   the API                                  every second a PUT then a DELETE of a port forward
 *                                            or a firewall rule, each must answer 200
 *
 * routerd's RSS is read every second. The unit's MemoryMax and Restart=always are emulated: a
 * daemon whose RSS passes MemoryMax is SIGKILLed (as the OOM killer would), and a daemon that
 * exits is started again after RestartSec; both count as errors. Writes bench/results/soak.json:
 *
 *   soak_rss_growth_pct  RSS at the end of the load vs after the first minute (the first 10 %
 *                        of shorter runs), each the lowest reading of a window of 20 % of the
 *                        run (GC saw-tooth, see WINDOW_S), target <= 10
 *   soak_errors          failed API edits + queries of the well-behaved clients left
 *                        unanswered (dnsperf lost, perfdhcp drops) + routerd exits, target 0
 *   soak_rss_mb_max      the largest RSS seen, target <= 120
 *
 * Every process the soak starts is time-boxed by itself and killed at the end (the lab's
 * teardown kills whatever is left), also on failure or interruption.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SECONDS = Math.max(30, Math.min(24 * 3600, Number(process.env['SOAK_SECONDS'] ?? 600)))
/**
 * Diagnosis only: SOAK_SKIP=tcp-hog,garbage leaves those clients out (a control run: which load
 * makes the memory grow). With it or SOAK_MEMORY_MAX_MB the results go to the temp dir.
 */
const SKIP = new Set((process.env['SOAK_SKIP'] ?? '').split(',').filter((w) => w !== ''))
/** Results of runs shorter than the full 10 minutes still go to bench/results/soak.json, marked with their length. */
const RESULTS = process.env['SOAK_MEMORY_MAX_MB'] === undefined && SKIP.size === 0 ? join(ROOT, 'bench', 'results', 'soak.json') : join(tmpdir(), 'soak.json')
const N_HOSTS = 1000
const FORWARDED_NAMES = 10_000
/** Well-behaved load: modest and steady (a soak, not a stress test), below routerd's default per-client DNS limit of 1,000/s. */
const DHCP_RATE = 100
const DHCP_RENEW_RATE = 40
const DNS_QPS = 400
const HOG_QPS = 1000
const GARBAGE_PPS = 100
const SAMPLE_MS = 1000
const RECORD_EVERY = 5
const EDIT_TIMEOUT_MS = 10_000
/** A crash loop ends the soak early rather than restarting forever. */
const MAX_RESTARTS = 30
const BASELINE_S = Math.min(60, SECONDS * 0.1)
/**
 * RSS under steady load is a saw-tooth: V8 lets the old generation grow, then a major collection
 * drops it (a 120 s run without the TCP client rose 0.4 MB/s from 75 to 117 MB, then fell to 90).
 * A single reading says more about where the tooth is than about a leak, so each of the two
 * readings is the lowest of a window this long (the floor after collections).
 */
const WINDOW_S = Math.max(15, SECONDS * 0.2)

function log(message: string): void {
  process.stderr.write(`[bench-soak] ${message}\n`)
}

/**
 * MemoryMax and RestartSec of appliance/routerd.service (192 MB and 1 s today).
 * SOAK_MEMORY_MAX_MB overrides MemoryMax: diagnosis only (it exercises the kill and restart path).
 */
function unitLimits(): { memoryMaxMb: number; restartSec: number } {
  const unit = parseUnitFile(readFileSync(join(ROOT, 'appliance', 'routerd.service'), 'utf8'))
  const mem = /^(\d+)([KMG]?)$/.exec(unitValue(unit, 'Service', 'MemoryMax') ?? '')
  const factor = { '': 1 / (1024 * 1024), K: 1 / 1024, M: 1, G: 1024 }[(mem?.[2] ?? 'M') as '' | 'K' | 'M' | 'G']
  const restart = /^(\d+)$/.exec(unitValue(unit, 'Service', 'RestartSec') ?? '')
  const override = Number(process.env['SOAK_MEMORY_MAX_MB'] ?? NaN)
  return {
    memoryMaxMb: Number.isFinite(override) && override > 0 ? override : mem === null ? 192 : Number(mem[1]) * factor,
    restartSec: restart === null ? 1 : Number(restart[1]),
  }
}

interface RssSample { t: number; pid: number; rssMb: number; anonMb: number }
interface DaemonEvent { t: number; what: string }

class Soak {
  readonly dir = mkdtempSync(join(tmpdir(), 'bench-soak-'))
  readonly samples: RssSample[] = []
  readonly events: DaemonEvent[] = []
  restarts = 0
  private t0 = 0
  private stopping = false
  private restarting: Promise<void> | undefined
  private readonly limits = unitLimits()

  constructor(readonly lab: Lab, readonly routerd: Routerd) {
    onCleanup(`temp dir ${this.dir}`, () => rmSync(this.dir, { recursive: true, force: true }))
  }

  file(name: string, text: string): string {
    const path = join(this.dir, name)
    writeFileSync(path, text)
    return path
  }

  now(): number {
    return (performance.now() - this.t0) / 1000
  }

  begin(): void {
    this.t0 = performance.now()
    this.watch(this.routerd.process)
  }

  /** Restart=always: a daemon that exits during the soak is counted and started again after RestartSec. */
  private watch(proc: StartedProcess): void {
    void proc.exited.then((code) => {
      if (this.stopping || this.restarting !== undefined) return
      this.restarts++
      this.events.push({ t: round(this.now(), 1), what: `routerd (pid ${proc.pid}) exited with ${code}: ${proc.output().slice(-300)}` })
      log(`routerd exited with ${code} at ${this.now().toFixed(0)} s; restart ${this.restarts}`)
      if (this.restarts > MAX_RESTARTS) return
      this.restarting = (async () => {
        await sleep(this.limits.restartSec * 1000)
        if (this.stopping) return
        await this.routerd.restart().then(
          () => this.events.push({ t: round(this.now(), 1), what: `routerd restarted (pid ${this.routerd.process.pid})` }),
          (err: unknown) => this.events.push({ t: round(this.now(), 1), what: `restart failed: ${err instanceof Error ? err.message : String(err)}` }))
        this.restarting = undefined
        this.watch(this.routerd.process)
      })()
    })
  }

  /** One RSS reading; past MemoryMax the daemon is killed as the unit's OOM kill would. */
  sample(): void {
    if (this.restarting !== undefined) return
    const pid = this.routerd.process.pid
    let m
    try { m = memory(pid) } catch { return }
    this.samples.push({ t: round(this.now(), 1), pid, rssMb: round(m.rssMb, 1), anonMb: round(m.anonMb, 1) })
    if (m.rssMb > this.limits.memoryMaxMb) {
      this.events.push({ t: round(this.now(), 1), what: `RSS ${m.rssMb.toFixed(0)} MB > MemoryMax ${this.limits.memoryMaxMb} MB: SIGKILL (the unit's OOM kill)` })
      log(`routerd RSS ${m.rssMb.toFixed(0)} MB passed MemoryMax ${this.limits.memoryMaxMb} MB: killed as the OOM killer would`)
      this.routerd.process.kill('SIGKILL')
    }
  }

  async stop(): Promise<void> {
    this.stopping = true
    await this.restarting
  }

  get memoryMaxMb(): number {
    return this.limits.memoryMaxMb
  }
}

/** Every second a PUT then a DELETE of one item, port forwards and firewall rules in turn; each must answer 200. */
async function editLoop(soak: Soak, until: number): Promise<{ attempts: number; failures: number; failed: string[]; ms: number[] }> {
  const out = { attempts: 0, failures: 0, failed: [] as string[], ms: [] as number[] }
  const call = async (method: 'PUT' | 'DELETE', path: string, body?: string) => {
    out.attempts++
    const r = await soak.routerd.api.call(method, path, body, EDIT_TIMEOUT_MS).catch((err: unknown) => ({ status: 0, body: err instanceof Error ? err.message : String(err), ms: NaN }))
    if (r.status === 200) out.ms.push(r.ms)
    else {
      out.failures++
      if (out.failed.length < 20) out.failed.push(`${round(soak.now(), 1)} s ${method} ${path}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`)
    }
  }
  for (let i = 0; soak.now() < until; i++) {
    const next = performance.now() + 1000
    const port = 30_000 + (i % 1000)
    if (i % 2 === 0) {
      const id = `soak-pf-${i}`
      await call('PUT', `/v1/config/portForwards/${id}`, JSON.stringify({ id, publicIp: '203.0.113.12', protocol: 'tcp', publicPorts: { start: port }, privateIp: LAB_ADDR.vm1, privatePorts: { start: port } }))
      await call('DELETE', `/v1/config/portForwards/${id}`)
    } else {
      const id = `soak-fw-${i}`
      await call('PUT', `/v1/config/firewallRules/${id}`, JSON.stringify({ id, publicIp: '203.0.113.11', protocol: 'tcp', ports: { start: port }, sourceCidrs: ['100.64.0.0/24'] }))
      await call('DELETE', `/v1/config/firewallRules/${id}`)
    }
    await sleep(Math.max(0, next - performance.now()))
  }
  return out
}

/** The JSON line a soak-client printed at exit (undefined if it printed none, e.g. killed hard). */
function clientSummary(p: StartedProcess | undefined): Record<string, unknown> | undefined {
  if (p === undefined) return undefined
  const line = p.output().trim().split('\n').reverse().find((l) => l.startsWith('{'))
  try { return line === undefined ? undefined : JSON.parse(line) as Record<string, unknown> } catch { return undefined }
}

async function stopClient(p: StartedProcess | undefined): Promise<void> {
  if (p === undefined) return
  p.kill('SIGTERM')
  const timer = setTimeout(() => p.kill('SIGKILL'), 5000)
  await p.exited
  clearTimeout(timer)
}

/** routerd's own counters of interest (Prometheus text), or the error if it did not answer. */
async function metrics(routerd: Routerd): Promise<Record<string, number> | string> {
  const r = await routerd.api.call('GET', '/metrics', undefined, 5000).catch((err: unknown) => ({ status: 0, body: String(err), ms: 0 }))
  if (r.status !== 200) return `GET /metrics: ${r.status} ${String(r.body).slice(0, 200)}`
  const out: Record<string, number> = {}
  for (const line of String(r.body).split('\n')) {
    const m = /^(routerd_(?:dns|dhcp)_[a-z_]+(?:\{[^}]*\})?) ([\d.e+-]+)$/.exec(line)
    if (m !== null) out[m[1] as string] = Number(m[2])
  }
  return out
}

async function main(): Promise<void> {
  const started = performance.now()
  const { lab, loadAverage } = await openGuestLab('bench-soak')
  const daemon = daemonCommand(ROOT)
  log(`lab ${lab.id}; ${SECONDS} s; routerd: ${daemon.source}`)
  const routerd = await Routerd.start(lab, daemon.command, { logLevel: 'warn' })
  // The appliance's defaults (DNS rate limit included); the lab network serves DHCP and DNS too, for the bad guests.
  await routerd.api.ok('PUT', '/v1/config', JSON.stringify(benchConfig(N_HOSTS, { dhcp: true, dns: true, leaseSeconds: 3600, labServices: true, relays: await perfdhcpRelays(routerd.api) })))
  const soak = new Soak(lab, routerd)
  const macs = soak.file('macs', Array.from({ length: N_HOSTS }, (_, i) => `${hostMac(i)}\n`).join(''))
  const queries: string[] = []
  for (let i = 0; i < FORWARDED_NAMES; i++) {
    queries.push(`f${i}.${FORWARD_DOMAIN} A`)
    if (i % 10 === 0) queries.push(`${hostName((i / 10) % N_HOSTS)}.${NET.domain} A`)
  }
  const queryFile = soak.file('queries', queries.join('\n') + '\n')
  const client = fileURLToPath(new URL('./soak-client.js', import.meta.url))
  // Give the services a moment to bind.
  await sleep(1000)

  soak.begin()
  const timeoutMs = (SECONDS + 90) * 1000
  const perfdhcp = lab.exec(lab.ns.vm3, 'perfdhcp', ['-4', '-g', 'single', '-l', 'eth0', '-r', String(DHCP_RATE), '-f', String(DHCP_RENEW_RATE),
    '-R', String(N_HOSTS), '-M', macs, '-p', String(SECONDS), '-W', '2000000'], { timeoutMs, okCodes: [0, 1, 2, 3] })
    .then((r) => parsePerfdhcp(r.stdout, r.stderr))
  const dnsperf = lab.exec(lab.ns.vm3, 'dnsperf', ['-s', NET.router, '-d', queryFile, '-c', '2', '-q', '50', '-Q', String(DNS_QPS), '-l', String(SECONDS), '-t', '5'], { timeoutMs })
    .then((r) => parseDnsperf(r.stdout))
  const hog = SKIP.has('tcp-hog') ? undefined : lab.start(lab.ns.vm1, process.execPath, [client, 'tcp-hog', LAB_ADDR.router, 'router.cloud.internal', String(HOG_QPS), String(SECONDS)])
  const garbage = SKIP.has('garbage') ? undefined : lab.start(lab.ns.vm2, process.execPath, [client, 'garbage', LAB_ADDR.router, String(GARBAGE_PPS), String(SECONDS), '7'])
  const edits = editLoop(soak, SECONDS)
  // Sampling until the load ends; a crash loop (restarts past MAX_RESTARTS) ends it early.
  let n = 0
  while (soak.now() < SECONDS && soak.restarts <= MAX_RESTARTS) {
    soak.sample()
    if (n++ % 60 === 0) log(`${soak.now().toFixed(0)} s: routerd RSS ${soak.samples.at(-1)?.rssMb ?? '?'} MB, ${soak.restarts} restarts`)
    await sleep(SAMPLE_MS)
  }
  // The bad guests are killed at the end (they stop by themselves too); then the well-behaved tools finish their runs.
  await Promise.all([stopClient(hog), stopClient(garbage)])
  const settled = await Promise.allSettled([perfdhcp, dnsperf, edits])
  await soak.stop()
  await sleep(3000)
  const alive = await routerd.api.call('GET', '/healthz', undefined, 5000).then((r) => r.status === 200, () => false)
  let atRest: number | null = null
  try { atRest = round(routerd.memory().rssMb, 1) } catch { /* gone */ }
  const counters = await metrics(routerd)
  await routerd.stop()

  const failures: string[] = []
  const value = <T>(i: number, what: string): T | undefined => {
    const s = settled[i]
    if (s?.status === 'fulfilled') return s.value as T
    failures.push(`${what}: ${s?.reason instanceof Error ? s.reason.message.slice(0, 500) : String(s?.reason)}`)
    return undefined
  }
  const dhcp = value<PerfdhcpReport>(0, 'perfdhcp')
  const dns = value<DnsperfReport>(1, 'dnsperf')
  const api = value<Awaited<ReturnType<typeof editLoop>>>(2, 'API edits')

  // RSS growth: the floor at the end of the load vs the floor after the first minute (10 % of
  // shorter runs), each the lowest reading of a WINDOW_S window, both of the same daemon process:
  // if the one read at the baseline was killed or exited, its last readings (a restarted daemon
  // starts small again, which would hide the growth).
  const first = soak.samples.find((s) => s.t >= BASELINE_S) ?? soak.samples[0]
  const mine = soak.samples.filter((s) => s.pid === first?.pid)
  const lowest = (xs: RssSample[]) => xs.reduce<RssSample | undefined>((a, s) => (a === undefined || s.rssMb < a.rssMb ? s : a), undefined)
  const last = mine.at(-1)
  const baseline = first === undefined ? undefined : lowest(mine.filter((s) => s.t >= first.t && s.t <= first.t + WINDOW_S))
  // The end window never reaches back into the baseline's (a daemon killed early has a short life).
  const endFrom = last === undefined || first === undefined ? 0 : Math.min(last.t, Math.max(last.t - WINDOW_S, first.t + WINDOW_S))
  const endOfLoad = last === undefined ? undefined : lowest(mine.filter((s) => s.t >= endFrom))
  const growth = baseline !== undefined && endOfLoad !== undefined ? ((endOfLoad.rssMb - baseline.rssMb) / baseline.rssMb) * 100 : NaN
  const pointGrowth = first !== undefined && last !== undefined ? round(((last.rssMb - first.rssMb) / first.rssMb) * 100, 1) : null
  const rssMax = Math.max(...soak.samples.map((s) => s.rssMb))
  // A tool that failed outright counts as one error (its queries are unaccounted for).
  const errorParts = {
    apiEditsFailed: api?.failures ?? 1,
    dnsperfLost: dns?.lost ?? 1,
    perfdhcpDrops: dhcp?.drops ?? 1,
    routerdExits: soak.restarts,
  }
  const errors = Object.values(errorParts).reduce((a, b) => a + b, 0)
  const results: Result[] = [
    { name: 'soak_rss_growth_pct', unit: '%', ours: round(growth, 1), peer: null, peer_value: null, ratio: null, target: 'ours <= 10 %', pass: growth <= 10 },
    { name: 'soak_errors', unit: 'count', ours: errors, peer: null, peer_value: null, ratio: null, target: 'ours = 0', pass: errors === 0 },
    { name: 'soak_rss_mb_max', unit: 'MB', ours: round(rssMax, 1), peer: null, peer_value: null, ratio: null, target: 'ours <= 120 MB', pass: rssMax <= 120 },
  ]
  const hogSummary = clientSummary(hog)
  const garbageSummary = clientSummary(garbage)
  const notes = [
    ...(SKIP.size > 0 ? [`control run without: ${[...SKIP].join(', ')}`] : []),
    `${SECONDS} s of mixed load${SECONDS < 600 ? ' (shortened with SOAK_SECONDS; the full soak is 600 s)' : ''}: perfdhcp ${DHCP_RATE} exchanges/s + ${DHCP_RENEW_RATE} renewals/s over ${N_HOSTS} static hosts, ` +
      `dnsperf ${DNS_QPS} queries/s (local and forwarded names), ` +
      `${SKIP.has('tcp-hog') ? '' : `a never-reading TCP DNS client writing ${HOG_QPS} queries/s, `}${SKIP.has('garbage') ? '' : `${GARBAGE_PPS} garbage DNS + ${GARBAGE_PPS} garbage DHCP datagrams/s, `}an API edit pair every second`,
    `rss: floor ${baseline?.rssMb ?? '?'} MB in ${first?.t ?? '?'}-${round((first?.t ?? 0) + WINDOW_S, 1)} s, floor ${endOfLoad?.rssMb ?? '?'} MB in ${round(endFrom, 1)}-${last?.t ?? '?'} s` +
      `${last !== soak.samples.at(-1) ? ' of that daemon before it was killed or exited' : ''} (single readings: ${first?.rssMb ?? '?'} MB at ${first?.t ?? '?'} s, ${last?.rssMb ?? '?'} MB at ${last?.t ?? '?'} s, ${pointGrowth ?? '?'} %); ` +
      `max ${rssMax} MB, ${atRest ?? '?'} MB 3 s after the load; MemoryMax ${soak.memoryMaxMb} MB enforced as the unit does`,
    `errors: ${JSON.stringify(errorParts)}; routerd answering at the end: ${alive}`,
    ...(soak.events.length > 0 ? [`routerd events: ${soak.events.slice(0, 10).map((e) => `${e.t} s ${e.what.split('\n')[0]?.slice(0, 160)}`).join(' | ')}${soak.events.length > 10 ? ` (+${soak.events.length - 10} more)` : ''}`] : []),
    `tcp client: ${JSON.stringify(hogSummary ?? 'no summary')}; garbage: ${JSON.stringify(garbageSummary ?? 'no summary')}`,
    ...failures.map((f) => `failed: ${f}`),
  ]
  const daemonLog = routerd.process.output()
  const doc = {
    suite: 'soak',
    target: 'soak_rss_growth_pct <= 10; soak_errors = 0; soak_rss_mb_max <= 120',
    machine: await machine(), loadAverage: { ...loadAverage, atEnd: loadavg().map((l) => round(l, 2)) }, daemon: daemon.source, revision: await revision(ROOT), generatedAt: new Date().toISOString(),
    soakSeconds: SECONDS, durationS: round((performance.now() - started) / 1000, 1), results, notes,
    details: {
      load: { dhcpRate: DHCP_RATE, dhcpRenewRate: DHCP_RENEW_RATE, dnsQps: DNS_QPS, dnsNames: { forwarded: FORWARDED_NAMES, local: N_HOSTS }, tcpHogQps: HOG_QPS, garbagePps: GARBAGE_PPS },
      rss: {
        windowS: round(WINDOW_S, 1), baseline: baseline ?? null, endOfLoad: endOfLoad ?? null, firstReading: first ?? null, lastReading: last ?? null, pointGrowthPct: pointGrowth, atRest3s: atRest, maxMb: rssMax, memoryMaxMb: soak.memoryMaxMb,
        samples: soak.samples.filter((_, i) => i % RECORD_EVERY === 0 || i === soak.samples.length - 1),
      },
      errors: errorParts,
      routerdEvents: soak.events,
      routerdAliveAtEnd: alive,
      perfdhcp: dhcp ?? null,
      dnsperf: dns ?? null,
      apiEdits: api === undefined ? null : {
        attempts: api.attempts, failures: api.failures, failed: api.failed,
        ms: api.ms.length === 0 ? null : { p50: round(percentile(api.ms, 50), 1), p99: round(percentile(api.ms, 99), 1), max: round(Math.max(...api.ms), 1) },
      },
      skipped: [...SKIP],
      tcpClient: hogSummary ?? null,
      garbage: garbageSummary ?? null,
      routerdCounters: counters,
      routerdLogTail: daemonLog.slice(-2000),
    },
  }
  writeResults(RESULTS, doc)
}

await runSuite('bench-soak', main)

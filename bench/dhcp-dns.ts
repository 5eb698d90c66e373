#!/usr/bin/env node
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { StartedProcess } from '../src/core/exec.ts'
import { Lab } from '../src/lab/lab.ts'
import { onCleanup } from './lib/cleanup.ts'
import { benchConfig, FORWARD_DOMAIN, hostIp, hostMac, hostName, NET, parseDnsperf, parsePerfdhcp, perfdhcpRelays, openGuestLab, UPSTREAM, type DnsperfReport, type PerfdhcpReport } from './lib/guest-load.ts'
import { cpuMs } from './lib/proc.ts'
import { machine, revision, runSuite, writeResults, type Result } from './lib/report.ts'
import { daemonCommand, Routerd } from './lib/routerd.ts'
import { median, round, sleep } from './lib/stats.ts'

/**
 * `make bench-dhcp-dns`: routerd's DHCP against ISC Kea and dnsmasq, and its DNS against dnsmasq,
 * measured in the same run, in the same lab, from the same client namespace (vm3 on the second
 * guest segment):
 *
 *   dhcp_exchanges_per_s_vs_kea  perfdhcp (-g single) 4-way exchanges/s with 1,000 static hosts;
 *                                each server's best of a sweep of offered rates per round,
 *                                median over rounds; the main peer is Kea 2.2 with reservations
 *   dhcp_exchanges_per_s         the same against dnsmasq as CloudStack configures it (a tuned
 *                                dnsmasq and each server's CPU µs per exchange are in details)
 *   dns_qps_local                dnsperf queries/s for the 1,000 guest names
 *   dns_qps_forwarded_cached     dnsperf queries/s for 1,000 forwarded names, cache warmed first
 *   routerd_rss_mb_4096_leases   VmRSS of a fresh routerd with 4,096 static hosts, after clients
 *                                bound leases, at rest
 *
 * Every server is measured once per round, the order rotating from round to round, and results
 * report the range over rounds (min/median/max) besides the medians. Only one server holds ports
 * 67 and 53 at a time: routerd's DHCP and DNS are switched off in its config while a peer runs.
 * routerd's per-client DNS rate limit is raised for the run (dnsmasq has none). Writes
 * bench/results/dhcp-dns.json.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/**
 * Diagnosis only: BENCH_ONLY=dhcp,dns,rss runs a subset; BENCH_ROUNDS=n changes the number of
 * rounds; BENCH_ROUTERD_CPU_PROF=<dir> runs routerd with --cpu-prof. With any of them the results
 * land in <dir> (or the temp dir), and bench/results is left alone.
 */
const ONLY = process.env['BENCH_ONLY']?.split(',')
const PROFILE_DIR = process.env['BENCH_ROUTERD_CPU_PROF']
const ROUNDS_ENV = process.env['BENCH_ROUNDS']
const OFFICIAL = ONLY === undefined && PROFILE_DIR === undefined && ROUNDS_ENV === undefined
const RESULTS = OFFICIAL ? join(ROOT, 'bench', 'results', 'dhcp-dns.json') : join(PROFILE_DIR ?? tmpdir(), 'dhcp-dns.json')
const N_HOSTS = 1000
const RSS_HOSTS = 4096
/** perfdhcp's run that binds the leases of the memory benchmark (offered 3,000/s). */
const RSS_DHCP_SECONDS = 4
/** Rounds of each benchmark; within a round every server is measured once, the order rotating from round to round. */
const ROUNDS = Math.max(1, Math.min(20, Number(ROUNDS_ENV ?? 5)))
/**
 * Offered exchanges/s: dense enough to find each server's peak (on a quiet machine dnsmasq peaks
 * near 4,000-5,000 and collapses past it, Kea near 6,000-8,000, routerd near 8,000-10,000), and
 * reaching past the fastest one's (at 10,000 routerd still dropped almost nothing).
 */
const DHCP_RATES = [2000, 3000, 4500, 6000, 8000, 10000, 12000, 14000]
const DHCP_SECONDS = 3
/** Before each server's measured sweep (not counted): every host gets its lease, ARP and caches are warm. */
const DHCP_WARMUP = { rate: 1500, seconds: 2 }
const DNS_SECONDS = 5
const SETTLE_MS = 3000

const results: Result[] = []
const notes: string[] = []
const details: Record<string, unknown> = {}

function log(message: string): void {
  process.stderr.write(`[bench-dhcp-dns] ${message}\n`)
}

/** The DHCP servers compared; `routerd` is ours, the first peer is the main one. */
const DHCP_SERVERS = ['routerd', 'kea', 'dnsmasq', 'dnsmasqTuned'] as const
type DhcpServer = (typeof DHCP_SERVERS)[number]

const DHCP_PEER_NAMES: Record<Exclude<DhcpServer, 'routerd'>, string> = {
  kea: 'ISC Kea 2.2 (kea-dhcp4, Debian package), memfile leases persisted, the same 1,000 hosts as reservations (no pool: unknown MACs get nothing), infinite leases, logging at WARN, its default single-threaded mode',
  dnsmasq: 'dnsmasq, DHCP only, as CloudStack configures it (the same 1,000 static hosts, infinite leases, unknown MACs ignored, lease file)',
  dnsmasqTuned: 'dnsmasq as CloudStack configures it plus --leasefile-ro --quiet-dhcp (no lease file writes, no per-exchange log lines)',
}

/** A DHCP server holding port 67 in the router namespace: its pid (for CPU time) and how to stop it. */
interface RunningServer { pid: number; stop(): Promise<void> }

class Bench {
  private readonly dir = mkdtempSync(join(tmpdir(), 'bench-dhcp-dns-'))

  /** `relays` is the bench network's dhcp.relays for a daemon that has the field (perfdhcp is a relay agent). */
  constructor(readonly lab: Lab, readonly routerd: Routerd, readonly relays: unknown) {
    onCleanup(`temp dir ${this.dir}`, () => rmSync(this.dir, { recursive: true, force: true }))
  }

  file(name: string, text: string): string {
    const path = join(this.dir, name)
    writeFileSync(path, text)
    return path
  }

  /** routerd's DHCP and DNS on the bench network on or off (off: a peer holds ports 67 and 53). */
  async services(n: number, on: boolean): Promise<void> {
    await this.routerd.api.ok('PUT', '/v1/config', JSON.stringify(benchConfig(n, { dhcp: on, dns: on, rateLimitQps: 1_000_000, relays: this.relays })))
    await this.waitPorts(on, ['dhcp', 'dns'])
  }

  /** Until something listens on UDP 67 (dhcp) and the router's 53 (dns) in the router namespace, or nothing does. */
  async waitPorts(present: boolean, which: readonly ('dhcp' | 'dns')[]): Promise<void> {
    const dnsPort = new RegExp(`${NET.router.replace(/\./g, '\\.')}:53\\s`)
    for (let i = 0; i < 200; i++) {
      const out = (await this.lab.exec(this.lab.ns.rtr, 'ss', ['-Hulnp'])).stdout
      const has = which.every((w) => (w === 'dhcp' ? /:67\s/.test(out) : dnsPort.test(out)))
      const none = which.every((w) => (w === 'dhcp' ? !/:67\s/.test(out) : !dnsPort.test(out)))
      if (present ? has : none) return
      await sleep(50)
    }
    throw new Error(`ports ${which.join('/')} did not ${present ? 'open' : 'close'} in the router namespace`)
  }

  private async stopProcess(p: StartedProcess, which: readonly ('dhcp' | 'dns')[]): Promise<void> {
    p.kill('SIGTERM')
    const timer = setTimeout(() => p.kill('SIGKILL'), 10_000)
    await p.exited
    clearTimeout(timer)
    await this.waitPorts(false, which)
  }

  private async started(p: StartedProcess, which: readonly ('dhcp' | 'dns')[], what: string): Promise<RunningServer> {
    let gone = false
    void p.exited.then(() => { gone = true })
    await this.waitPorts(true, which).catch((err: unknown) => {
      throw new Error(`${what} did not start${gone ? ' (it exited)' : ''}: ${p.output().slice(-1500)}`, { cause: err })
    })
    return { pid: p.pid, stop: () => this.stopProcess(p, which) }
  }

  private dnsmasqCommon(): string[] {
    return ['-k', '--conf-file=/dev/null', '--user=root', '--group=root', '--pid-file=', '--log-facility=/dev/null', '--bind-interfaces']
  }

  /** dnsmasq with DHCP only, as CloudStack configures it (static hosts, infinite leases, on the guest link); `tuned` adds --leasefile-ro --quiet-dhcp. */
  async startDnsmasqDhcp(n: number, tuned: boolean): Promise<RunningServer> {
    // The lease file lives on from round to round, as routerd's lease journal does.
    const leases = join(this.dir, tuned ? 'dnsmasq-tuned.leases' : 'dnsmasq.leases')
    const hosts = this.file('dhcp-hosts', Array.from({ length: n }, (_, i) => `${hostMac(i)},${hostIp(i)},${hostName(i)},infinite\n`).join(''))
    const p = this.lab.start(this.lab.ns.rtr, 'dnsmasq', [...this.dnsmasqCommon(), '--port=0',
      '--interface=eth4', `--dhcp-range=${NET.cidr.split('/')[0]},static,${NET.mask}`, `--dhcp-hostsfile=${hosts}`,
      '--dhcp-ignore=tag:!known', `--dhcp-leasefile=${leases}`, '--dhcp-lease-max=10000', '--dhcp-authoritative',
      ...(tuned ? ['--leasefile-ro', '--quiet-dhcp'] : [])])
    return this.started(p, ['dhcp'], `dnsmasq${tuned ? ' (tuned)' : ''}`)
  }

  /** dnsmasq with DNS only: the guest names, the rest forwarded, a cache as large as routerd's. */
  async startDnsmasqDns(n: number): Promise<RunningServer> {
    const names = this.file('addn-hosts', Array.from({ length: n }, (_, i) => `${hostIp(i)} ${hostName(i)}\n`).join(''))
    const p = this.lab.start(this.lab.ns.rtr, 'dnsmasq', [...this.dnsmasqCommon(),
      `--listen-address=${NET.router}`, '--no-resolv', '--no-hosts', `--addn-hosts=${names}`, `--domain=${NET.domain}`, '--expand-hosts',
      `--local=/${NET.domain}/`, `--server=${UPSTREAM}`, '--cache-size=10000', '--no-dhcp-interface=eth4'])
    return this.started(p, ['dns'], 'dnsmasq (DNS)')
  }

  /**
   * ISC Kea 2.2 on eth4: memfile leases (persisted, in the temp dir), the hosts as reservations in
   * the bench subnet and no pool (so, as with CloudStack's dnsmasq, unknown MACs get nothing),
   * infinite leases, the same options routerd hands out (router, DNS server, domain, hostname).
   * Logging at WARN (routerd runs at warn in this suite too). Its pid and lock files go to the
   * temp dir, not /run/kea.
   */
  async startKea(n: number): Promise<RunningServer> {
    // The lease file lives on from round to round, as routerd's lease journal does.
    const leases = join(this.dir, 'kea-leases4.csv')
    const config = {
      Dhcp4: {
        'interfaces-config': { interfaces: ['eth4'], 'dhcp-socket-type': 'raw' },
        'lease-database': { type: 'memfile', persist: true, name: leases, 'lfc-interval': 0 },
        'valid-lifetime': 4294967295,
        authoritative: true,
        'host-reservation-identifiers': ['hw-address'],
        'reservations-global': false, 'reservations-in-subnet': true, 'reservations-out-of-pool': true,
        subnet4: [{
          id: 1, subnet: NET.cidr,
          'option-data': [{ name: 'routers', data: NET.router }, { name: 'domain-name-servers', data: NET.router }, { name: 'domain-name', data: NET.domain }],
          reservations: Array.from({ length: n }, (_, i) => ({ 'hw-address': hostMac(i), 'ip-address': hostIp(i), hostname: hostName(i) })),
        }],
        loggers: [{ name: 'kea-dhcp4', output_options: [{ output: 'stdout' }], severity: 'WARN' }],
      },
    }
    const conf = this.file('kea-dhcp4.json', JSON.stringify(config))
    const env = { ...process.env, KEA_PIDFILE_DIR: this.dir, KEA_LOCKFILE_DIR: this.dir }
    const p = this.lab.start(this.lab.ns.rtr, 'kea-dhcp4', ['-c', conf], env)
    return this.started(p, ['dhcp'], 'kea-dhcp4')
  }

  /** Starts one DHCP server on the bench network (routerd: its DHCP and DNS switched on). */
  async startDhcp(server: DhcpServer, n: number): Promise<RunningServer> {
    switch (server) {
      case 'routerd':
        await this.services(n, true)
        return { pid: this.routerd.process.pid, stop: () => this.services(n, false) }
      case 'kea': return this.startKea(n)
      case 'dnsmasq': return this.startDnsmasqDhcp(n, false)
      case 'dnsmasqTuned': return this.startDnsmasqDhcp(n, true)
    }
  }

  /**
   * perfdhcp in vm3 at `rate` offered exchanges/s for DHCP_SECONDS, single-threaded (`-g single`:
   * its default multi-threaded receiver alone takes 1 to 1.25 of the 2 cores, starving the server).
   */
  async perfdhcp(rate: number, macs: string, clients: number, seconds = DHCP_SECONDS): Promise<PerfdhcpReport> {
    const out = await this.lab.exec(this.lab.ns.vm3, 'perfdhcp',
      ['-4', '-g', 'single', '-l', 'eth0', '-r', String(rate), '-R', String(clients), '-M', macs, '-p', String(seconds)],
      { timeoutMs: 60_000, okCodes: [0, 1, 2, 3] })
    return parsePerfdhcp(out.stdout, out.stderr)
  }

  /** dnsperf over a query file for DNS_SECONDS (or one pass with `once`). */
  async dnsperf(queries: string, once = false): Promise<DnsperfReport> {
    const args = ['-s', NET.router, '-d', queries, '-c', '4', '-q', '200', ...(once ? ['-n', '1'] : ['-l', String(DNS_SECONDS)])]
    return parseDnsperf((await this.lab.exec(this.lab.ns.vm3, 'dnsperf', args, { timeoutMs: 60_000 })).stdout)
  }
}

/** min / median / max of a sample, rounded. */
function range(samples: readonly number[], digits = 0): { min: number; median: number; max: number } {
  return { min: round(Math.min(...samples), digits), median: round(median(samples), digits), max: round(Math.max(...samples), digits) }
}

const fmt = (r: { min: number; median: number; max: number }) => `${r.min}/${r.median}/${r.max}`

/**
 * One ratio result: ours and the peer are the medians over rounds, ratio = ours / peer_value;
 * details keep every round's value and the per-round ratios (min/median/max).
 */
function ratioResult(name: string, unit: string, ours: number[], peer: number[], peerName: string, target: number): { min: number; median: number; max: number } {
  const o = median(ours)
  const p = median(peer)
  const ratio = round(o / p, 3)
  const perRound = ours.map((v, i) => v / (peer[i] as number))
  results.push({ name, unit, ours: round(o, 0), peer: peerName, peer_value: round(p, 0), ratio, target: `ratio >= ${target}`, pass: ratio >= target })
  const ratios = range(perRound, 3)
  details[name] = { ours, peer, ours_range: range(ours), peer_range: range(peer), ratio_per_round: perRound.map((r) => round(r, 3)), ratio_range: ratios }
  return ratios
}

async function benchDhcp(b: Bench): Promise<void> {
  const macs = b.file('macs', Array.from({ length: N_HOSTS }, (_, i) => `${hostMac(i)}\n`).join(''))
  // Per server: the best completed rate of each round's sweep, and the CPU it spent per exchange over that sweep.
  const best = Object.fromEntries(DHCP_SERVERS.map((s) => [s, [] as number[]])) as Record<DhcpServer, number[]>
  const cpuUs = Object.fromEntries(DHCP_SERVERS.map((s) => [s, [] as number[]])) as Record<DhcpServer, number[]>
  const rounds: unknown[] = []
  // routerd's services stay off while a peer holds port 67; each server is started for its turn.
  await b.services(N_HOSTS, false)
  for (let k = 0; k < ROUNDS; k++) {
    const order = DHCP_SERVERS.map((_, i) => DHCP_SERVERS[(i + k) % DHCP_SERVERS.length] as DhcpServer)
    const record: Record<string, unknown> = { order }
    for (const server of order) {
      const running = await b.startDhcp(server, N_HOSTS)
      await b.perfdhcp(DHCP_WARMUP.rate, macs, N_HOSTS, DHCP_WARMUP.seconds)
      const cpu0 = cpuMs(running.pid)
      const sweep: PerfdhcpReport[] = []
      for (const rate of DHCP_RATES) sweep.push(await b.perfdhcp(rate, macs, N_HOSTS))
      const cpu = cpuMs(running.pid) - cpu0
      await running.stop()
      const exchanges = sweep.reduce((a, r) => a + r.exchanges, 0)
      const perExchange = exchanges > 0 ? (cpu * 1000) / exchanges : NaN
      best[server].push(Math.max(...sweep.map((r) => r.rate)))
      cpuUs[server].push(perExchange)
      record[server] = { ratesBySweep: sweep.map((r) => round(r.rate, 0)), exchanges, drops: sweep.map((r) => r.drops), cpuMs: round(cpu, 0), cpuUsPerExchange: round(perExchange, 1) }
    }
    rounds.push(record)
    log(`dhcp round ${k + 1}/${ROUNDS} (${order.join(', ')}): ` + DHCP_SERVERS.map((s) => `${s} ${best[s].at(-1)?.toFixed(0)}/s ${cpuUs[s].at(-1)?.toFixed(0)} µs`).join('; '))
  }
  await b.services(N_HOSTS, true)
  const vsKea = ratioResult('dhcp_exchanges_per_s_vs_kea', 'exchanges/s', best.routerd, best.kea, DHCP_PEER_NAMES.kea, 1.3)
  const vsDnsmasq = ratioResult('dhcp_exchanges_per_s', 'exchanges/s', best.routerd, best.dnsmasq, DHCP_PEER_NAMES.dnsmasq, 1.5)
  const perRoundTuned = best.routerd.map((v, i) => v / (best.dnsmasqTuned[i] as number))
  const summaryByServer = Object.fromEntries(DHCP_SERVERS.map((s) => [s, { exchangesPerS: range(best[s]), cpuUsPerExchange: range(cpuUs[s], 1) }]))
  details['dhcp'] = {
    servers: { routerd: 'routerd as the appliance runs it', ...DHCP_PEER_NAMES },
    offeredRates: DHCP_RATES, secondsPerRate: DHCP_SECONDS, rounds,
    summary: summaryByServer,
    vsDnsmasqTuned: { ratio_per_round: perRoundTuned.map((r) => round(r, 3)), ratio_range: range(perRoundTuned, 3) },
  }
  notes.push(`dhcp: perfdhcp -g single from vm3 (a broadcast client on the guest bridge), ${N_HOSTS} static hosts, offered ${DHCP_RATES.join('/')} exchanges/s for ${DHCP_SECONDS} s each after a ${DHCP_WARMUP.seconds} s warm-up at ${DHCP_WARMUP.rate}/s (lease files kept across rounds); ` +
    `per round the best of the sweep; ${ROUNDS} rounds, the servers' order rotating; min/median/max over rounds:`)
  for (const s of DHCP_SERVERS) {
    notes.push(`  ${s}: ${fmt(summaryByServer[s]!.exchangesPerS)} exchanges/s, ${fmt(summaryByServer[s]!.cpuUsPerExchange)} µs CPU per exchange (utime+stime over the sweep / ACKs received)`)
  }
  notes.push(`  routerd / kea per round ${fmt(vsKea)}; / dnsmasq (CloudStack) ${fmt(vsDnsmasq)}; / dnsmasq tuned ${fmt(range(perRoundTuned, 3))}`)
}

async function benchDns(b: Bench): Promise<void> {
  const local = b.file('local-queries', Array.from({ length: N_HOSTS }, (_, i) => `${hostName(i)}.${NET.domain} A\n`).join(''))
  const forwarded = b.file('forwarded-queries', Array.from({ length: N_HOSTS }, (_, i) => `f${i}.${FORWARD_DOMAIN} A\n`).join(''))
  const measured: Record<'local' | 'forwarded', { ours: number[]; peer: number[] }> = { local: { ours: [], peer: [] }, forwarded: { ours: [], peer: [] } }
  const lost: Record<string, number> = {}
  const run = async (who: 'ours' | 'peer') => {
    // Warm the cache with every forwarded name once, then measure both.
    await b.dnsperf(forwarded, true)
    for (const [kind, file] of [['local', local], ['forwarded', forwarded]] as const) {
      const r = await b.dnsperf(file)
      measured[kind][who].push(r.qps)
      lost[`${who}-${kind}`] = (lost[`${who}-${kind}`] ?? 0) + r.lost
    }
  }
  const peerTurn = async () => {
    await b.services(N_HOSTS, false)
    const dnsmasq = await b.startDnsmasqDns(N_HOSTS)
    await run('peer')
    await dnsmasq.stop()
    await b.services(N_HOSTS, true)
  }
  for (let round = 0; round < ROUNDS; round++) {
    // The order alternates from round to round.
    if (round % 2 === 0) { await run('ours'); await peerTurn() } else { await peerTurn(); await run('ours') }
    log(`dns round ${round + 1}/${ROUNDS}: local routerd ${measured.local.ours.at(-1)?.toFixed(0)} dnsmasq ${measured.local.peer.at(-1)?.toFixed(0)}; ` +
      `forwarded (cached) routerd ${measured.forwarded.ours.at(-1)?.toFixed(0)} dnsmasq ${measured.forwarded.peer.at(-1)?.toFixed(0)} queries/s`)
  }
  const l = ratioResult('dns_qps_local', 'queries/s', measured.local.ours, measured.local.peer, 'dnsmasq serving the same names (addn-hosts, expand-hosts, local domain)', 1.0)
  const f = ratioResult('dns_qps_forwarded_cached', 'queries/s', measured.forwarded.ours, measured.forwarded.peer, 'dnsmasq forwarding to the same upstream, cache-size 10000, warmed the same way', 1.0)
  notes.push(`dns: dnsperf from vm3, 4 clients, 200 outstanding, ${DNS_SECONDS} s per run, ${ROUNDS} rounds, order alternating (medians); ` +
    `ratio per round min/median/max: local ${fmt(l)}, forwarded ${fmt(f)}; queries lost: ${JSON.stringify(lost)}`)
}

async function benchRss(b: Bench, routerd: Routerd): Promise<void> {
  // A fresh daemon: the one above served the other benchmarks.
  await routerd.stop()
  await routerd.restart()
  await b.services(RSS_HOSTS, true)
  const macs = b.file('macs-4096', Array.from({ length: RSS_HOSTS }, (_, i) => `${hostMac(i)}\n`).join(''))
  const exchanges = (await b.perfdhcp(3000, macs, RSS_HOSTS, RSS_DHCP_SECONDS)).rate
  await b.dnsperf(b.file('names-4096', Array.from({ length: RSS_HOSTS }, (_, i) => `${hostName(i)}.${NET.domain} A\n`).join('')), true)
  await sleep(SETTLE_MS)
  // Read before asking for the leases: that answer's own garbage is not the daemon's footprint.
  const mem = routerd.memory()
  const leases = ((await routerd.api.ok('GET', '/v1/dhcp/leases')).body?.leases ?? []).length as number
  results.push({
    name: 'routerd_rss_mb_4096_leases', unit: 'MB', ours: round(mem.rssMb, 1), peer: null, peer_value: null, ratio: null,
    target: 'ours <= 80 MB', pass: mem.rssMb <= 80,
  })
  details['routerd_rss_mb_4096_leases'] = { leasesBound: leases, perfdhcpExchangesPerS: round(exchanges, 0), memoryMb: { vmRss: round(mem.rssMb, 1), rssAnon: round(mem.anonMb, 1), rssFile: round(mem.fileMb, 1) } }
  notes.push(`rss: fresh routerd, ${RSS_HOSTS} static hosts, ${leases} leases bound by perfdhcp, every name asked once, ${SETTLE_MS / 1000} s at rest: ${mem.rssMb.toFixed(0)} MB (${mem.fileMb.toFixed(0)} MB file-backed)`)
}

async function main(): Promise<void> {
  const started = performance.now()
  const { lab, loadAverage } = await openGuestLab('bench-dhcp-dns')
  const daemon = daemonCommand(ROOT)
  log(`lab ${lab.id}; routerd: ${daemon.source}`)
  const profiling = PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`]
  const routerd = await Routerd.start(lab, daemon.command, { nodeArgs: profiling, logLevel: 'warn' })
  const b = new Bench(lab, routerd, await perfdhcpRelays(routerd.api))
  await b.services(N_HOSTS, true)
  if (ONLY === undefined || ONLY.includes('dhcp')) await benchDhcp(b)
  if (ONLY === undefined || ONLY.includes('dns')) await benchDns(b)
  if (ONLY === undefined || ONLY.includes('rss')) await benchRss(b, routerd)
  await routerd.stop()
  const order = ['dhcp_exchanges_per_s_vs_kea', 'dhcp_exchanges_per_s', 'dns_qps_local', 'dns_qps_forwarded_cached', 'routerd_rss_mb_4096_leases']
  results.sort((a, c) => order.indexOf(a.name) - order.indexOf(c.name))
  const doc = {
    suite: 'dhcp-dns',
    target: 'dhcp_exchanges_per_s_vs_kea ratio >= 1.3; dhcp_exchanges_per_s (vs dnsmasq as CloudStack configures it) ratio >= 1.5; dns_qps_local ratio >= 1.0; dns_qps_forwarded_cached ratio >= 1.0; routerd_rss_mb_4096_leases <= 80 MB',
    machine: await machine(), loadAverage: { ...loadAverage, atEnd: loadavg().map((l) => round(l, 2)) }, daemon: daemon.source, revision: await revision(ROOT), generatedAt: new Date().toISOString(),
    durationS: round((performance.now() - started) / 1000, 1), results, notes, details,
  }
  writeResults(RESULTS, doc)
}

await runSuite('bench-dhcp-dns', main)

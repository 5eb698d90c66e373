#!/usr/bin/env node
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { StartedProcess } from '../src/kernel/exec.ts'
import { Lab, LAB_ADDR, LAB_MACS, labRouterConfig } from '../src/lab/lab.ts'
import { cleanupOnSignals, onCleanup } from './lib/cleanup.ts'
import { machine, revision, runSuite, writeResults, type Result } from './lib/report.ts'
import { daemonCommand, Routerd } from './lib/routerd.ts'
import { median, round, sleep } from './lib/stats.ts'

/**
 * `make bench-dhcp-dns`: routerd's DHCP and DNS against dnsmasq, measured in the same run, in
 * the same lab, from the same client namespace (vm3 on the second guest segment):
 *
 *   dhcp_exchanges_per_s        perfdhcp 4-way exchanges/s with 1,000 static hosts; each server's
 *                               best of a sweep of offered rates, median over rounds
 *   dns_qps_local               dnsperf queries/s for the 1,000 guest names
 *   dns_qps_forwarded_cached    dnsperf queries/s for 1,000 forwarded names, cache warmed first
 *   routerd_rss_mb_4096_leases  VmRSS of a fresh routerd with 4,096 static hosts, after clients
 *                               bound leases, at rest
 *
 * Rounds alternate ours and the peer. Only one server holds ports 67 and 53 at a time: routerd's
 * DHCP and DNS are switched off in its config while dnsmasq runs. routerd's per-client DNS rate
 * limit is raised for the run (dnsmasq has none). Writes bench/results/dhcp-dns.json.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/**
 * Diagnosis only: BENCH_ONLY=dhcp,dns,rss runs a subset; BENCH_ROUTERD_CPU_PROF=<dir> runs
 * routerd with --cpu-prof (profile and results land in <dir>, bench/results is left alone).
 */
const ONLY = process.env['BENCH_ONLY']?.split(',')
const PROFILE_DIR = process.env['BENCH_ROUTERD_CPU_PROF']
const RESULTS = ONLY === undefined && PROFILE_DIR === undefined ? join(ROOT, 'bench', 'results', 'dhcp-dns.json') : join(PROFILE_DIR ?? tmpdir(), 'dhcp-dns.json')
const N_HOSTS = 1000
const RSS_HOSTS = 4096
const ROUNDS = 3
const DHCP_RATES = [3000, 6000, 9000]
const DHCP_SECONDS = 4
const DNS_SECONDS = 5
const SETTLE_MS = 3000
const NET = { cidr: '10.8.0.0/19', prefix: 19, router: '10.8.0.1', client: '10.8.0.2', domain: 'bench.internal', mask: '255.255.224.0' }
const UPSTREAM = LAB_ADDR.internetHost
const FORWARD_DOMAIN = 'fwd.example.test'

const results: Result[] = []
const notes: string[] = []
const details: Record<string, unknown> = {}

function log(message: string): void {
  process.stderr.write(`[bench-dhcp-dns] ${message}\n`)
}

const mac = (i: number) => `02:5e:10:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`
const hostIp = (i: number) => { const n = 16 + i; return `10.8.${n >> 8}.${n & 255}` }
const hostName = (i: number) => `h${String(i).padStart(4, '0')}`

/** The lab config plus the bench network on the second guest link, with `n` static hosts. */
function benchConfig(n: number, services: { dhcp: boolean; dns: boolean }): string {
  const lab = labRouterConfig() as { interfaces: unknown[]; guestNetworks: Record<string, unknown>[] }
  return JSON.stringify({
    ...lab,
    interfaces: [...lab.interfaces, { id: 'guest2', role: 'guest', mac: LAB_MACS.guest2 }],
    // The lab's first guest network serves nothing here: ports 67 and 53 belong to the bench network's server alone.
    guestNetworks: [...lab.guestNetworks.map((n) => ({ ...n, dhcp: { enabled: false }, dns: { enabled: false } })), {
      id: 'bench', interface: 'guest2', cidr: NET.cidr, routerIp: NET.router, domain: NET.domain, dnsServers: [UPSTREAM],
      // Infinite leases, as CloudStack hands them out (and configures dnsmasq).
      dhcp: { enabled: services.dhcp, leaseSeconds: 4294967295 }, dns: { enabled: services.dns, rateLimitQps: 1_000_000 },
    }],
    dhcpHosts: Array.from({ length: n }, (_, i) => ({ id: `h${i}`, network: 'bench', mac: mac(i), ip: hostIp(i), hostname: hostName(i) })),
  })
}

class Bench {
  private readonly dir = mkdtempSync(join(tmpdir(), 'bench-dhcp-dns-'))

  constructor(readonly lab: Lab, readonly routerd: Routerd) {
    onCleanup(`temp dir ${this.dir}`, () => rmSync(this.dir, { recursive: true, force: true }))
  }

  file(name: string, text: string): string {
    const path = join(this.dir, name)
    writeFileSync(path, text)
    return path
  }

  async services(n: number, on: boolean): Promise<void> {
    await this.routerd.api.ok('PUT', '/v1/config', benchConfig(n, { dhcp: on, dns: on }))
    await this.waitPorts(on)
  }

  /** Until something listens on UDP 67 and 53 in the router (or nothing does). */
  async waitPorts(present: boolean): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const out = (await this.lab.exec(this.lab.ns.rtr, 'ss', ['-Hulnp'])).stdout
      const has = /:67\s/.test(out) && new RegExp(`${NET.router.replace(/\./g, '\\.')}:53\\s`).test(out)
      if (has === present) return
      await sleep(50)
    }
    throw new Error(`ports 67/53 did not ${present ? 'open' : 'close'} in the router namespace`)
  }

  /**
   * dnsmasq in the router namespace with the same hosts, names and upstream: one process for
   * DHCP and one for DNS, each at its best (one process doing both was slower at DHCP).
   */
  async startDnsmasq(n: number): Promise<StartedProcess[]> {
    rmSync(join(this.dir, 'dnsmasq.leases'), { force: true })
    const hosts = this.file('dhcp-hosts', Array.from({ length: n }, (_, i) => `${mac(i)},${hostIp(i)},${hostName(i)},infinite\n`).join(''))
    const names = this.file('addn-hosts', Array.from({ length: n }, (_, i) => `${hostIp(i)} ${hostName(i)}\n`).join(''))
    const common = ['-k', '--conf-file=/dev/null', '--user=root', '--group=root', '--pid-file=', '--log-facility=/dev/null', '--bind-interfaces']
    const dhcp = this.lab.start(this.lab.ns.rtr, 'dnsmasq', [...common, '--port=0',
      // As CloudStack configures it: static hosts only, infinite leases, on the guest link.
      '--interface=eth4', `--dhcp-range=${NET.cidr.split('/')[0]},static,${NET.mask}`, `--dhcp-hostsfile=${hosts}`,
      '--dhcp-ignore=tag:!known', `--dhcp-leasefile=${join(this.dir, 'dnsmasq.leases')}`, '--dhcp-lease-max=10000', '--dhcp-authoritative'])
    const dns = this.lab.start(this.lab.ns.rtr, 'dnsmasq', [...common,
      // The guest names, the rest forwarded, a cache as large as routerd's.
      `--listen-address=${NET.router}`, '--no-resolv', '--no-hosts', `--addn-hosts=${names}`, `--domain=${NET.domain}`, '--expand-hosts',
      `--local=/${NET.domain}/`, `--server=${UPSTREAM}`, '--cache-size=10000', '--no-dhcp-interface=eth4'])
    await this.waitPorts(true)
    return [dhcp, dns]
  }

  async stop(processes: StartedProcess[]): Promise<void> {
    for (const p of processes) p.kill('SIGTERM')
    await Promise.all(processes.map((p) => p.exited))
    await this.waitPorts(false)
  }

  /** perfdhcp at `rate` offered exchanges/s for DHCP_SECONDS; the 4-way exchanges/s it completed. */
  async perfdhcp(rate: number, macs: string, clients: number): Promise<number> {
    const out = await this.lab.exec(this.lab.ns.vm3, 'perfdhcp',
      ['-4', '-l', 'eth0', '-r', String(rate), '-R', String(clients), '-M', macs, '-p', String(DHCP_SECONDS)], { timeoutMs: 60_000, okCodes: [0, 1, 2, 3] })
    const m = /Rate: ([\d.]+) 4-way exchanges\/second/.exec(out.stdout)
    if (m === null) throw new Error(`perfdhcp printed no rate: ${out.stdout.slice(-1500)}${out.stderr.slice(-500)}`)
    return Number(m[1])
  }

  /** dnsperf over a query file for DNS_SECONDS (or one pass with `once`); queries/s. */
  async dnsperf(queries: string, once = false): Promise<{ qps: number; lost: number }> {
    const args = ['-s', NET.router, '-d', queries, '-c', '4', '-q', '200', ...(once ? ['-n', '1'] : ['-l', String(DNS_SECONDS)])]
    const out = (await this.lab.exec(this.lab.ns.vm3, 'dnsperf', args, { timeoutMs: 60_000 })).stdout
    const qps = /Queries per second:\s+([\d.]+)/.exec(out)
    const lost = /Queries lost:\s+(\d+)/.exec(out)
    if (qps === null) throw new Error(`dnsperf printed no rate: ${out.slice(-1500)}`)
    return { qps: Number(qps[1]), lost: Number(lost?.[1] ?? 0) }
  }
}

function ratioResult(name: string, unit: string, ours: number[], peer: number[], peerName: string, target: number): void {
  const o = median(ours)
  const p = median(peer)
  const ratio = round(o / p, 3)
  results.push({ name, unit, ours: round(o, 0), peer: peerName, peer_value: round(p, 0), ratio, target: `ratio >= ${target}`, pass: ratio >= target })
  details[name] = { ours, peer }
}

async function benchDhcp(b: Bench): Promise<void> {
  const macs = b.file('macs', Array.from({ length: N_HOSTS }, (_, i) => `${mac(i)}\n`).join(''))
  const ours: number[] = []
  const peer: number[] = []
  const sweeps: Record<string, number[][]> = { routerd: [], dnsmasq: [] }
  for (let round = 0; round < ROUNDS; round++) {
    const mine: number[] = []
    for (const rate of DHCP_RATES) mine.push(await b.perfdhcp(rate, macs, N_HOSTS))
    await b.services(N_HOSTS, false)
    const dnsmasq = await b.startDnsmasq(N_HOSTS)
    const theirs: number[] = []
    for (const rate of DHCP_RATES) theirs.push(await b.perfdhcp(rate, macs, N_HOSTS))
    await b.stop(dnsmasq)
    await b.services(N_HOSTS, true)
    ours.push(Math.max(...mine))
    peer.push(Math.max(...theirs))
    sweeps['routerd']?.push(mine)
    sweeps['dnsmasq']?.push(theirs)
    log(`dhcp round ${round + 1}: routerd ${mine.map((r) => r.toFixed(0)).join('/')} dnsmasq ${theirs.map((r) => r.toFixed(0)).join('/')} exchanges/s at offered ${DHCP_RATES.join('/')}`)
  }
  ratioResult('dhcp_exchanges_per_s', 'exchanges/s', ours, peer, 'dnsmasq, DHCP only, as CloudStack configures it (the same 1,000 static hosts, infinite leases, unknown MACs ignored)', 1.5)
  notes.push(`dhcp: perfdhcp from vm3 (a broadcast client on the guest bridge), ${N_HOSTS} static hosts, offered ${DHCP_RATES.join('/')} exchanges/s for ${DHCP_SECONDS} s each; best of the sweep per round, median of ${ROUNDS} rounds`)
  details['dhcp_sweeps'] = sweeps
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
  for (let round = 0; round < ROUNDS; round++) {
    await run('ours')
    await b.services(N_HOSTS, false)
    const dnsmasq = await b.startDnsmasq(N_HOSTS)
    await run('peer')
    await b.stop(dnsmasq)
    await b.services(N_HOSTS, true)
    log(`dns round ${round + 1}: local routerd ${measured.local.ours.at(-1)?.toFixed(0)} dnsmasq ${measured.local.peer.at(-1)?.toFixed(0)}; ` +
      `forwarded (cached) routerd ${measured.forwarded.ours.at(-1)?.toFixed(0)} dnsmasq ${measured.forwarded.peer.at(-1)?.toFixed(0)} queries/s`)
  }
  ratioResult('dns_qps_local', 'queries/s', measured.local.ours, measured.local.peer, 'dnsmasq serving the same names (addn-hosts, expand-hosts, local domain)', 1.0)
  ratioResult('dns_qps_forwarded_cached', 'queries/s', measured.forwarded.ours, measured.forwarded.peer, 'dnsmasq forwarding to the same upstream, cache-size 10000, warmed the same way', 1.0)
  notes.push(`dns: dnsperf from vm3, 4 clients, 200 outstanding, ${DNS_SECONDS} s per run, ${ROUNDS} alternating rounds (median); queries lost: ${JSON.stringify(lost)}`)
}

async function benchRss(b: Bench, routerd: Routerd): Promise<void> {
  // A fresh daemon: the one above served the other benchmarks.
  await routerd.stop()
  await routerd.restart()
  await routerd.api.ok('PUT', '/v1/config', benchConfig(RSS_HOSTS, { dhcp: true, dns: true }))
  await b.waitPorts(true)
  const macs = b.file('macs-4096', Array.from({ length: RSS_HOSTS }, (_, i) => `${mac(i)}\n`).join(''))
  const exchanges = await b.perfdhcp(3000, macs, RSS_HOSTS)
  await b.dnsperf(b.file('names-4096', Array.from({ length: RSS_HOSTS }, (_, i) => `${hostName(i)}.${NET.domain} A\n`).join('')), true)
  await sleep(SETTLE_MS)
  const leases = ((await routerd.api.ok('GET', '/v1/dhcp/leases')).body?.leases ?? []).length as number
  const mem = routerd.memory()
  results.push({
    name: 'routerd_rss_mb_4096_leases', unit: 'MB', ours: round(mem.rssMb, 1), peer: null, peer_value: null, ratio: null,
    target: 'ours <= 80 MB', pass: mem.rssMb <= 80,
  })
  details['routerd_rss_mb_4096_leases'] = { leasesBound: leases, perfdhcpExchangesPerS: round(exchanges, 0), memoryMb: { vmRss: round(mem.rssMb, 1), rssAnon: round(mem.anonMb, 1), rssFile: round(mem.fileMb, 1) } }
  notes.push(`rss: fresh routerd, ${RSS_HOSTS} static hosts, ${leases} leases bound by perfdhcp, every name asked once, ${SETTLE_MS / 1000} s at rest: ${mem.rssMb.toFixed(0)} MB (${mem.fileMb.toFixed(0)} MB file-backed)`)
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench-dhcp-dns needs root (network namespaces)')
  cleanupOnSignals()
  const started = performance.now()
  const lab = await Lab.create('svmbench')
  onCleanup(`lab ${lab.id}`, () => lab.destroy())
  await lab.exec(lab.ns.vm3, 'ip', ['address', 'add', `${NET.client}/${NET.prefix}`, 'dev', 'eth0'])
  // The upstream resolver on the internet side: authoritative for every name under FORWARD_DOMAIN.
  lab.start(lab.ns.inet, 'dnsmasq', [
    '-k', '--conf-file=/dev/null', '--user=root', '--group=root', '--pid-file=', '--log-facility=/dev/null', '--no-resolv', '--no-hosts',
    '--bind-interfaces', `--listen-address=${UPSTREAM}`, '--local-ttl=3600', `--address=/${FORWARD_DOMAIN}/192.0.2.99`,
  ])
  const daemon = daemonCommand(ROOT)
  log(`lab ${lab.id}; routerd: ${daemon.source}`)
  const profiling = PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`]
  const routerd = await Routerd.start(lab, daemon.script, { nodeArgs: [...daemon.nodeArgs, ...profiling], env: daemon.env, logLevel: 'warn' })
  const b = new Bench(lab, routerd)
  await b.services(N_HOSTS, true)
  if (ONLY === undefined || ONLY.includes('dhcp')) await benchDhcp(b)
  if (ONLY === undefined || ONLY.includes('dns')) await benchDns(b)
  if (ONLY === undefined || ONLY.includes('rss')) await benchRss(b, routerd)
  await routerd.stop()
  const order = ['dhcp_exchanges_per_s', 'dns_qps_local', 'dns_qps_forwarded_cached', 'routerd_rss_mb_4096_leases']
  results.sort((a, c) => order.indexOf(a.name) - order.indexOf(c.name))
  const doc = {
    suite: 'dhcp-dns',
    target: 'dhcp_exchanges_per_s ratio >= 1.5; dns_qps_local ratio >= 1.0; dns_qps_forwarded_cached ratio >= 1.0; routerd_rss_mb_4096_leases <= 80 MB',
    machine: await machine(), daemon: daemon.source, revision: await revision(ROOT), generatedAt: new Date().toISOString(),
    durationS: round((performance.now() - started) / 1000, 1), results, notes, details,
  }
  writeResults(RESULTS, doc)
}

await runSuite('bench-dhcp-dns', main)

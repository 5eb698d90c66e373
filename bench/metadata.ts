#!/usr/bin/env node
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { StartedProcess } from '../src/core/exec.ts'
import type { Lab } from '../src/lab/lab.ts'
import { onCleanup } from './lib/cleanup.ts'
import { NET, openGuestLab } from './lib/guest-load.ts'
import { waitTcpListen } from './lib/listen.ts'
import { cpuSince, namespaceCpu, type Memory } from './lib/proc.ts'
import { machine, revision, runSuite, writeResults, type Result } from './lib/report.ts'
import { daemonCommand, Routerd } from './lib/routerd.ts'
import { median, round, sleep } from './lib/stats.ts'
import { clientVm, hostVms, metadataConfig, servedMetadata, uploadUserData, USER_DATA_BYTES, type BenchVm } from './lib/vms.ts'
import { runWrk, type WrkReport } from './lib/wrk.ts'
import { startApache, writeApacheSite } from './peers/apache.ts'
import { buildLabCeiling, startLabCeiling } from './peers/lab-ceiling.ts'
import { startPasswordServer } from './peers/password.ts'

/**
 * `make bench-metadata`: routerd's metadata and password servers (issue 9) against the servers
 * CloudStack's virtual router runs for them, in the same lab, from the same guest (vm3, 10.8.0.2
 * on the bench network 10.8.0.0/19 behind router eth4, listed in dhcpHosts with its MAC: routerd
 * answers only such IP and MAC pairs):
 *
 *   metadata_requests_per_s        wrk on http://10.8.0.1/latest/meta-data/instance-id vs Apache
 *                                  laid out as the VR lays it out (bench/peers/apache.ts)
 *   password_requests_per_s        wrk on http://10.8.0.1:8080/ with `DomU_Request: send_my_password`
 *                                  vs CloudStack's password server design, a Python http.server
 *                                  (bench/peers/password-server.py); each round also measures
 *                                  the lab's ceiling for a connection per request, a C server that
 *                                  does nothing but answer (bench/peers/lab-ceiling.c)
 *   routerd_rss_delta_mb_4096_vms  VmRSS growth of a fresh routerd from one VM to 4,097: 4,096 more
 *                                  dhcpHosts and vmData (the standard metadata keys) and 4 KiB of
 *                                  user data each, uploaded through PUT /v1/user-data/<sha256>
 *
 * The peers run in the router namespace on the router's address and ports (80, 8080) while routerd
 * is stopped: routerd leaves its kernel rules in place when it stops, so both sides are reached
 * through the same firewall and IP+MAC admission, and no idle routerd shares the machine with the
 * peers. For its turn routerd is started again on its state directory (it applies the stored config
 * before it answers); the pending password is set again each turn (routerd need not keep it across
 * a restart). Each turn first checks the answers (instance-id, password; for Apache also that
 * another VM's directory is refused). The requests benchmarks serve 1,001 VMs on both sides.
 *
 * Rounds: every side is measured once per round, the order alternating; ours and peer_value are
 * medians over rounds, details keep every round, ranges, latency and CPU µs per request (utime +
 * stime of every process in the router namespace over the run / requests). Writes
 * bench/results/metadata.json.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/**
 * Diagnosis only: BENCH_ONLY=requests,rss runs a subset, BENCH_ONLY=peers measures the peers
 * alone (routerd only lays out the router: no vmData, works on a routerd without issue 9);
 * BENCH_ROUNDS=n changes the rounds. With either the results land in the temp dir.
 */
const ONLY = process.env['BENCH_ONLY']?.split(',')
const ROUNDS_ENV = process.env['BENCH_ROUNDS']
const OFFICIAL = ONLY === undefined && ROUNDS_ENV === undefined
const RESULTS = OFFICIAL ? join(ROOT, 'bench', 'results', 'metadata.json') : join(tmpdir(), 'metadata.json')
const PEERS_ONLY = ONLY?.includes('peers') === true
const want = (part: string) => ONLY === undefined || ONLY.includes(part) || (PEERS_ONLY && part === 'requests')
const ROUNDS = Math.max(1, Math.min(20, Number(ROUNDS_ENV ?? 5)))
const N_VMS = 1000
const RSS_VMS = 4096
/** What wrk asks; passwordKeepAlive (connections kept where the server allows) is kept in details only. */
const KINDS = ['metadata', 'password', 'passwordKeepAlive'] as const
type Kind = (typeof KINDS)[number]
const RESULTS_BY_KIND: Partial<Record<Kind, { name: string; target: number }>> = {
  metadata: { name: 'metadata_requests_per_s', target: 1.0 },
  password: { name: 'password_requests_per_s', target: 5 },
}
type Side = 'routerd' | 'peer'
const PASSWORD_PORT = 8080
const URLS: Record<Kind, string> = {
  metadata: `http://${NET.router}/latest/meta-data/instance-id`, password: `http://${NET.router}:${PASSWORD_PORT}/`, passwordKeepAlive: `http://${NET.router}:${PASSWORD_PORT}/`,
}
/**
 * One wrk thread (2 cores: one for the client, one for the server). Metadata: 16 connections
 * kept alive (Apache's KeepAlive is on; near its best here). Passwords: a connection per request
 * on both sides (the protocol is HTTP/1.0 and a guest asks once), 4 at a time: the Python server
 * listens with socketserver's backlog of 5, and from 10 connections on, overflowed handshakes wait
 * for a SYN retransmit (p99 ~1.5 s). passwordKeepAlive is the same without `Connection: close`
 * (routerd keeps the connections; the Python server closes after every answer anyway).
 */
const WRK: Record<Kind, { seconds: number; threads: number; connections: number; headers: string[] }> = {
  metadata: { seconds: 5, threads: 1, connections: 16, headers: [] },
  password: { seconds: 5, threads: 1, connections: 4, headers: ['DomU_Request: send_my_password', 'Connection: close'] },
  passwordKeepAlive: { seconds: 5, threads: 1, connections: 4, headers: ['DomU_Request: send_my_password'] },
}
/**
 * In vm3 only: a connection per request at ~3,000/s leaves ~15,000 client ports in TIME_WAIT within
 * 5 s, and connect() then crawls through the default range (32768-60999, half of it for connect)
 * looking for a free one: a second run fell to 400 requests/s whatever the server. With the full
 * range and TIME_WAIT reuse for outgoing connections every run measures the server.
 */
const CLIENT_SYSCTLS = ['net.ipv4.ip_local_port_range=1024 65535', 'net.ipv4.tcp_tw_reuse=1']
const WARMUP_SECONDS = 1
const SETTLE_MS = 3000
/** A later reading of the RSS benchmark (details only): whether the daemon still gives pages back. */
const LATER_MS = 10_000
const PASSWORD = 'Bench-Pa55word-7f3a9c'
const PEER_NAMES: Record<'metadata' | 'password', string> = {
  metadata: 'Apache 2.4 (Debian apache2, mpm_event, Debian defaults) as CloudStack\'s VR serves metadata: vhost on the router IP:80, AllowOverride All, mod_rewrite rules in /latest/.htaccess to static files under /metadata/<vm ip>/, per-VM .htaccess allow-from, no access log',
  password: 'CloudStack\'s password server design: Python http.server (ThreadingHTTPServer + BaseHTTPRequestHandler, HTTP/1.0), passwords in a dict keyed by client IP (bench/peers/password-server.py)',
}

const results: Result[] = []
const notes: string[] = []
const details: Record<string, unknown> = {}

function log(message: string): void {
  process.stderr.write(`[bench-metadata] ${message}\n`)
}

/** One GET from vm3 with curl: status and body. */
async function fetchFromClient(lab: Lab, url: string, headers: readonly string[] = []): Promise<{ status: number; body: string }> {
  const args = ['-s', '-m', '3', '-o', '-', '-w', '\n%{http_code}', ...headers.flatMap((h) => ['-H', h]), url]
  const r = await lab.exec(lab.ns.vm3, 'curl', args, { okCodes: [0, 7, 28, 52, 56] })
  const cut = r.stdout.lastIndexOf('\n')
  return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) }
}

/** Until vm3 gets its instance-id and pending password from the router (150 tries, 100 ms apart). */
async function waitServing(lab: Lab, client: BenchVm): Promise<void> {
  const expected = { metadata: String(client.metadata['instance-id']), password: PASSWORD }
  let last: unknown
  for (let i = 0; i < 150; i++) {
    const got = { metadata: await fetchFromClient(lab, URLS.metadata), password: await fetchFromClient(lab, URLS.password, WRK.password.headers) }
    if ((['metadata', 'password'] as const).every((k) => got[k].status === 200 && got[k].body.trim() === expected[k])) return
    last = got
    await sleep(100)
  }
  throw new Error(`vm3 is not served its metadata and password: ${JSON.stringify(last)}`)
}

interface Sample { requestsPerS: number; requests: number; non2xx: number; socketErrors: WrkReport['socketErrors']; latencyMs: WrkReport['latencyMs']; cpuUsPerRequest: number }

/** The router namespace's metadata and password servers: routerd, or the peers while routerd is stopped. */
class Servers {
  private routerdUp = true
  private peers: StartedProcess[] = []
  private isolationChecked = false

  constructor(readonly lab: Lab, readonly routerd: Routerd, readonly dir: string, readonly client: BenchVm, readonly apacheConf: string, readonly script: string) {}

  private ports(): string[] {
    return [`${NET.router}:80`, `${NET.router}:${PASSWORD_PORT}`]
  }

  async routerdTurn(): Promise<void> {
    if (!this.routerdUp) {
      await this.routerd.restart()
      this.routerdUp = true
    }
    if (!PEERS_ONLY) {
      await this.routerd.api.ok('PUT', `/v1/passwords/bench/${this.client.ip}`, JSON.stringify({ password: PASSWORD }))
      await waitServing(this.lab, this.client)
    }
  }

  async peerTurn(): Promise<void> {
    await this.stopRouterd()
    await waitTcpListen(this.lab, this.lab.ns.rtr, this.ports(), false)
    this.peers.push(await startApache(this.lab, this.lab.ns.rtr, this.apacheConf, NET.router))
    this.peers.push(await startPasswordServer(this.lab, this.lab.ns.rtr, { script: this.script, dir: this.dir, listen: NET.router, port: PASSWORD_PORT, passwords: { [this.client.ip]: PASSWORD } }))
    await waitServing(this.lab, this.client)
    if (!this.isolationChecked) {
      // Another VM's files are refused by its directory's .htaccess (the per-VM access check is part of the peer's cost).
      const other = await fetchFromClient(this.lab, `http://${NET.router}/metadata/${hostVms(1)[0]?.ip}/instance-id`)
      if (other.status !== 403) throw new Error(`Apache served another VM's directory to vm3 (status ${other.status}): check bench/peers/apache.ts`)
      this.isolationChecked = true
    }
  }

  async stopRouterd(): Promise<void> {
    if (this.routerdUp) await this.routerd.stop()
    this.routerdUp = false
  }

  /**
   * The lab's ceiling for a connection per request (lab-ceiling.c on the password port, routerd
   * stopped): the most any server could show here, whatever its language.
   */
  async ceilingTurn(binary: string): Promise<Sample> {
    await this.stopRouterd()
    await waitTcpListen(this.lab, this.lab.ns.rtr, this.ports(), false)
    this.peers.push(await startLabCeiling(this.lab, this.lab.ns.rtr, { binary, listen: NET.router, port: PASSWORD_PORT, body: PASSWORD }))
    const sample = await this.measure('password')
    await this.endPeerTurn()
    return sample
  }

  async endPeerTurn(): Promise<void> {
    for (const p of this.peers) p.kill('SIGTERM')
    await Promise.all(this.peers.map((p) => p.exited))
    this.peers = []
    await waitTcpListen(this.lab, this.lab.ns.rtr, this.ports(), false)
  }

  /** wrk from vm3 on one kind (after a short warm-up that is not counted), and the server side's CPU over the run. */
  async measure(kind: Kind): Promise<Sample> {
    const o = WRK[kind]
    await runWrk(this.lab, this.lab.ns.vm3, URLS[kind], { ...o, seconds: WARMUP_SECONDS })
    const cpu0 = await namespaceCpu([this.lab.ns.rtr])
    const r = await runWrk(this.lab, this.lab.ns.vm3, URLS[kind], o)
    const cpu = cpuSince(cpu0, await namespaceCpu([this.lab.ns.rtr]))
    if (r.non2xx > 0) throw new Error(`${kind}: ${r.non2xx} of ${r.requests} answers were not 2xx/3xx`)
    return { requestsPerS: round(r.requestsPerS, 0), requests: r.requests, non2xx: r.non2xx, socketErrors: r.socketErrors, latencyMs: r.latencyMs, cpuUsPerRequest: round((cpu * 1000) / r.requests, 1) }
  }
}

function range(samples: readonly number[], digits = 0): { min: number; median: number; max: number } {
  return { min: round(Math.min(...samples), digits), median: round(median(samples), digits), max: round(Math.max(...samples), digits) }
}

const fmt = (r: { min: number; median: number; max: number }) => `${r.min}/${r.median}/${r.max}`

/** Every round's values and per-round ratios into details[name]; returns the ratios' min/median/max. */
function ratioDetails(name: string, ours: number[], peer: number[]): string {
  const perRound = ours.map((v, i) => v / (peer[i] as number))
  details[name] = { ours, peer, ours_range: range(ours), peer_range: range(peer), ratio_per_round: perRound.map((r) => round(r, 3)), ratio_range: range(perRound, 3) }
  return fmt(range(perRound, 2))
}

/** One ratio result (medians over rounds, ratio = ours / peer_value), with ratioDetails(). */
function ratioResult(name: string, ours: number[], peer: number[], peerName: string, target: number): string {
  const o = median(ours)
  const p = median(peer)
  const ratio = round(o / p, 3)
  results.push({ name, unit: 'requests/s', ours: round(o, 0), peer: peerName, peer_value: round(p, 0), ratio, target: `ratio >= ${target}`, pass: ratio >= target })
  return ratioDetails(name, ours, peer)
}

async function benchRequests(lab: Lab, dir: string, routerdCommand: ReturnType<typeof daemonCommand>): Promise<void> {
  const client = clientVm()
  const vms = [client, ...hostVms(N_VMS)]
  const apacheConf = writeApacheSite(dir, NET.router, vms.map((v) => ({ ip: v.ip, files: servedMetadata(v), userData: v.userData })))
  const routerd = await Routerd.start(lab, routerdCommand.command, { logLevel: 'warn' })
  if (!PEERS_ONLY) await uploadUserData(routerd.api, vms)
  await routerd.api.ok('PUT', '/v1/config', JSON.stringify(metadataConfig(vms, { vmData: !PEERS_ONLY })))
  const servers = new Servers(lab, routerd, dir, client, apacheConf, join(ROOT, 'bench', 'peers', 'password-server.py'))
  const samples = Object.fromEntries(KINDS.map((k) => [k, { routerd: [] as Sample[], peer: [] as Sample[] }])) as Record<Kind, Record<Side, Sample[]>>
  const ceilingBinary = await buildLabCeiling(join(ROOT, 'bench', 'peers'), dir)
  const ceiling: Sample[] = []
  const rounds: unknown[] = []
  for (let k = 0; k < ROUNDS; k++) {
    const order = ((k % 2 === 0 ? ['routerd', 'peer'] : ['peer', 'routerd']) as Side[]).filter((s) => !(PEERS_ONLY && s === 'routerd'))
    const record: Record<string, unknown> = { order }
    for (const side of order) {
      await (side === 'routerd' ? servers.routerdTurn() : servers.peerTurn())
      for (const kind of KINDS) {
        const s = await servers.measure(kind)
        samples[kind][side].push(s)
        record[`${side}-${kind}`] = s
      }
      if (side === 'peer') await servers.endPeerTurn()
    }
    ceiling.push(await servers.ceilingTurn(ceilingBinary))
    record['ceiling-password'] = ceiling.at(-1)
    rounds.push(record)
    const last = (kind: Kind, side: Side) => samples[kind][side].at(-1)?.requestsPerS ?? '-'
    log(`round ${k + 1}/${ROUNDS} (${order.join(', ')}): ` + KINDS.map((kind) => `${kind} routerd ${last(kind, 'routerd')} peer ${last(kind, 'peer')}`).join('; ') + `; password lab ceiling ${ceiling.at(-1)?.requestsPerS} requests/s`)
  }
  await servers.stopRouterd()
  const rps = (kind: Kind, side: Side) => samples[kind][side].map((s) => s.requestsPerS)
  const cpu = (kind: Kind, side: Side) => samples[kind][side].map((s) => s.cpuUsPerRequest)
  details['requests'] = { vms: vms.length, wrk: WRK, warmupSeconds: WARMUP_SECONDS, urls: URLS, clientSysctls: CLIENT_SYSCTLS, rounds }
  const how: Record<Kind, string> = { metadata: ' (kept alive)', password: ' (a connection per request)', passwordKeepAlive: ' (kept alive by routerd; the Python server closes after every answer)' }
  for (const kind of KINDS) {
    const sides: Side[] = PEERS_ONLY ? ['peer'] : ['routerd', 'peer']
    const line = sides.map((s) => `${s === 'peer' ? (kind === 'metadata' ? 'apache' : 'python') : 'routerd'} ${fmt(range(rps(kind, s)))} requests/s, ${fmt(range(cpu(kind, s), 1))} µs CPU per request`).join('; ')
    const result = RESULTS_BY_KIND[kind]
    const name = result?.name ?? 'password_keepalive_requests_per_s'
    let ratios = ''
    if (!PEERS_ONLY) {
      ratios = `; routerd / peer per round ${result === undefined ? ratioDetails(name, rps(kind, 'routerd'), rps(kind, 'peer')) : ratioResult(result.name, rps(kind, 'routerd'), rps(kind, 'peer'), PEER_NAMES[kind as 'metadata' | 'password'], result.target)}`
    }
    const errors = sides.flatMap((s) => samples[kind][s].map((x) => x.socketErrors.connect + x.socketErrors.read + x.socketErrors.write + x.socketErrors.timeout)).reduce((a, b) => a + b, 0)
    notes.push(`${kind}: wrk -t${WRK[kind].threads} -c${WRK[kind].connections}${how[kind]} ${WRK[kind].seconds} s from vm3, ${vms.length} VMs served, ${ROUNDS} rounds alternating, min/median/max: ${line}${ratios}; wrk socket errors over all runs: ${errors}`)
  }
  const ceilingRps = ceiling.map((s) => s.requestsPerS)
  const overPython = ceilingRps.map((v, i) => v / (rps('password', 'peer')[i] as number))
  details['password_lab_ceiling'] = { what: 'bench/peers/lab-ceiling.c: one epoll thread in C, a fixed answer, no parsing or lookup', requestsPerS: ceilingRps, cpuUsPerRequest: ceiling.map((s) => s.cpuUsPerRequest), overPython: overPython.map((r) => round(r, 3)) }
  notes.push(`password lab ceiling: the same wrk run (a connection per request) against lab-ceiling.c, the least a server can do: ${fmt(range(ceilingRps))} requests/s, ` +
    `${fmt(range(ceiling.map((s) => s.cpuUsPerRequest), 1))} µs CPU per request, ${fmt(range(overPython, 2))} × the Python server per round: the client and the kernel bound ` +
    'password_requests_per_s here, so no server can show more than that ratio on this machine')
}

async function benchRss(lab: Lab, routerdCommand: ReturnType<typeof daemonCommand>): Promise<void> {
  const routerd = await Routerd.start(lab, routerdCommand.command, { logLevel: 'warn' })
  const client = clientVm()
  await uploadUserData(routerd.api, [client])
  await routerd.api.ok('PUT', '/v1/config', JSON.stringify(metadataConfig([client], { vmData: true })))
  await routerd.api.ok('PUT', `/v1/passwords/bench/${client.ip}`, JSON.stringify({ password: PASSWORD }))
  await waitServing(lab, client)
  await sleep(SETTLE_MS)
  const before = routerd.memory()
  const vms = [client, ...hostVms(RSS_VMS)]
  const t0 = performance.now()
  await uploadUserData(routerd.api, vms.slice(1))
  const uploadMs = performance.now() - t0
  const put = await routerd.api.ok('PUT', '/v1/config', JSON.stringify(metadataConfig(vms, { vmData: true })))
  const atAnswer = routerd.memory()
  await waitServing(lab, client)
  await sleep(SETTLE_MS)
  // Read before asking for the blob list: that answer's own garbage is not the VMs' footprint.
  const after = routerd.memory()
  await sleep(LATER_MS - SETTLE_MS)
  const later = routerd.memory()
  const blobs = ((await routerd.api.ok('GET', '/v1/user-data')).body?.blobs ?? []).length as number
  await routerd.stop()
  if (blobs !== vms.length) throw new Error(`routerd lists ${blobs} user-data blobs, ${vms.length} were uploaded`)
  const delta = after.rssMb - before.rssMb
  results.push({ name: 'routerd_rss_delta_mb_4096_vms', unit: 'MB', ours: round(delta, 1), peer: null, peer_value: null, ratio: null, target: 'ours <= 16 MB', pass: delta <= 16 })
  const mb = (m: Memory) => ({ vmRss: round(m.rssMb, 1), rssAnon: round(m.anonMb, 1), rssFile: round(m.fileMb, 1), vmHwm: round(m.hwmMb, 1) })
  details['routerd_rss_delta_mb_4096_vms'] = {
    memoryMb: { oneVm: mb(before), atAnswer: mb(atAnswer), after: mb(after), [`after${LATER_MS / 1000}s`]: mb(later) }, anonDeltaMb: round(after.anonMb - before.anonMb, 1),
    uploadMs: round(uploadMs, 0), configPutMs: round(put.ms, 0), userDataBytes: RSS_VMS * USER_DATA_BYTES,
  }
  notes.push(`rss: fresh routerd with one VM (vm3, served once), ${SETTLE_MS / 1000} s at rest: ${before.rssMb.toFixed(1)} MB; after ${RSS_VMS} more VMs ` +
    `(${RSS_VMS} × ${USER_DATA_BYTES / 1024} KiB user data uploaded in ${(uploadMs / 1000).toFixed(1)} s, config PUT ${(put.ms / 1000).toFixed(1)} s), ${SETTLE_MS / 1000} s at rest: ` +
    `${after.rssMb.toFixed(1)} MB (anonymous ${before.anonMb.toFixed(1)} → ${after.anonMb.toFixed(1)} MB), ${later.rssMb.toFixed(1)} MB at ${LATER_MS / 1000} s; peak (VmHWM) ${later.hwmMb.toFixed(1)} MB`)
}

async function versions(lab: Lab): Promise<Record<string, string>> {
  const first = async (tool: string, args: string[]) => {
    const r = await lab.exec(lab.ns.vm3, tool, args, { okCodes: [0, 1] }).catch(() => ({ stdout: '?', stderr: '' }))
    return (r.stdout + r.stderr).trim().split('\n')[0] ?? '?'
  }
  return { apache2: await first('apache2', ['-v']), python3: await first('python3', ['--version']), wrk: await first('wrk', ['-v']) }
}

async function main(): Promise<void> {
  const started = performance.now()
  const { lab, loadAverage } = await openGuestLab('bench-metadata')
  const daemon = daemonCommand(ROOT)
  log(`lab ${lab.id}; routerd: ${daemon.source}${PEERS_ONLY ? ' (peers only)' : ''}`)
  const dir = mkdtempSync(join(tmpdir(), 'bench-metadata-'))
  onCleanup(`temp dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }))
  await lab.exec(lab.ns.vm3, 'sysctl', ['-q', '-w', ...CLIENT_SYSCTLS])
  details['peerVersions'] = await versions(lab)
  if (!PEERS_ONLY && want('rss')) await benchRss(lab, daemon)
  if (want('requests')) await benchRequests(lab, dir, daemon)
  const order = ['metadata_requests_per_s', 'password_requests_per_s', 'routerd_rss_delta_mb_4096_vms']
  results.sort((a, c) => order.indexOf(a.name) - order.indexOf(c.name))
  const doc = {
    suite: 'metadata',
    target: 'metadata_requests_per_s (vs Apache as CloudStack\'s VR serves metadata) ratio >= 1.0; password_requests_per_s (vs CloudStack\'s Python password server design) ratio >= 5; routerd_rss_delta_mb_4096_vms <= 16 MB',
    machine: await machine(), loadAverage: { ...loadAverage, atEnd: loadavg().map((l) => round(l, 2)) }, daemon: daemon.source, revision: await revision(ROOT), generatedAt: new Date().toISOString(),
    durationS: round((performance.now() - started) / 1000, 1), results, notes, details,
  }
  writeResults(RESULTS, doc)
}

await runSuite('bench-metadata', main)

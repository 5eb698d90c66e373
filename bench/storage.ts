#!/usr/bin/env node
import { createHash, randomFillSync } from 'node:crypto'
import { closeSync, mkdirSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { binary, run, type StartedProcess } from '../src/core/exec.ts'
import type { Daemon } from '../src/lab/daemon.ts'
import { describeDaemonCommand, readDaemonCommand } from '../src/lab/daemon-command.ts'
import { STORAGE_LAB_ADDR, StorageLab } from '../src/lab/storage-lab.ts'
import { RouterdApi } from './lib/api.ts'
import { cleanupOnSignals, onCleanup } from './lib/cleanup.ts'
import { cpuMs, memory } from './lib/proc.ts'
import { machine, revision, runSuite, writeResults, type Result } from './lib/report.ts'
import type { TimedStep } from './lib/scratch.ts'
import { bounded, median, round, sleep, summary } from './lib/stats.ts'

/**
 * `make bench-storage`: storaged (the secondary-storage daemon, dist/storaged.mjs started as
 * appliance/storaged.service starts it) in the storage lab (src/lab/storage-lab.ts: storaged in
 * `<id>-ssvm` at 10.201.0.1, a web namespace `<id>-web` at 10.201.0.2), against the tools an
 * administrator would use for the same bytes:
 *
 *   download_sha256_vs_curl   a 1 GiB raw image over HTTP into a path store with {SHA-256}
 *                             checked (a download job, POST to DOWNLOADED) vs `curl -o` of the
 *                             same URL into the same filesystem from the ssvm namespace
 *   copy_verify_vs_cp         a 1 GiB template copied between two path stores (copy job, read
 *                             back and compared) vs `cp` of the same file between the same
 *                             directories
 *   resume_waste_pct          bytes fetched again after 5 connections dropped at different
 *                             offsets of a 1 GiB download, % of the file: the job's
 *                             result.refetchedBytes and the server's body bytes sent − the size
 *   storaged_rss_mb_download  storaged's VmRSS, sampled every 100 ms, peak over the downloads
 *
 * Both stores and curl's file live on one tmpfs (3 GiB), the served file on another: no disk in
 * the measurement, and the page cache is warm for both sides by construction (tmpfs pages are
 * the cache, so drop_caches has nothing to drop). The server is bench/peers/file-server.mjs (a
 * plain static node server with Range, drop offsets and byte counters) in the web namespace, the
 * same process for both sides. Rounds alternate the order of the sides; ours and peer_value are
 * medians, details keep every round. Writes bench/results/storage.json.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/**
 * Diagnosis only (results then go to the temp dir, or the profile's dir): BENCH_ONLY=download,resume,copy,
 * BENCH_ROUNDS=n, BENCH_SIZE_MIB=n, BENCH_STORAGED_CPU_PROF=<dir> (storaged with --cpu-prof),
 * BENCH_STORAGED_ENV="NAME=value …" (over the unit's Environment=, e.g. another MALLOC_MMAP_THRESHOLD_).
 */
const ONLY = process.env['BENCH_ONLY']?.split(',')
const ROUNDS_ENV = process.env['BENCH_ROUNDS']
const PROF_DIR = process.env['BENCH_STORAGED_CPU_PROF']
const SIZE_ENV = process.env['BENCH_SIZE_MIB']
const STORAGED_ENV = Object.fromEntries((process.env['BENCH_STORAGED_ENV'] ?? '').split(/\s+/).filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
const OFFICIAL = ONLY === undefined && ROUNDS_ENV === undefined && PROF_DIR === undefined && SIZE_ENV === undefined && Object.keys(STORAGED_ENV).length === 0
const RESULTS = OFFICIAL ? join(ROOT, 'bench', 'results', 'storage.json') : join(PROF_DIR ?? tmpdir(), 'storage.json')
const want = (part: string) => ONLY === undefined || ONLY.includes(part)
const ROUNDS = Math.max(1, Math.min(20, Number(ROUNDS_ENV ?? 5)))
const RESUME_ROUNDS = Math.max(1, Math.min(ROUNDS, 3))
const MiB = 1024 * 1024
const SIZE = Math.max(16, Math.min(1024, Number(SIZE_ENV ?? 1024))) * MiB
const WARM_SIZE = 64 * MiB
const DROPS = 5
const STORES_TMPFS = '3G'
const WEB_TMPFS = '1200M'
const PORT = 8080
const BASE = `http://${STORAGE_LAB_ADDR.web}:${PORT}`
const SAMPLE_MS = 100
const POLL_MS = 200
const JOB_DEADLINE_MS = 300_000
const ACCOUNT = 2
const SERVER_SCRIPT = join(ROOT, 'bench', 'peers', 'file-server.mjs')
const TIMER = fileURLToPath(new URL('./netns-timer.js', import.meta.url))

const results: Result[] = []
const notes: string[] = []
const details: Record<string, unknown> = {}

function log(message: string): void {
  process.stderr.write(`[bench-storage] ${message}\n`)
}

const mibPerS = (bytes: number, ms: number) => bytes / MiB / (ms / 1000)

interface JobView {
  id: string
  state: string
  createdAt: string
  startedAt: string | null
  finishedAt: string | null
  bytes: number
  error: { code: string; message: string } | null
  result: { installPath?: string; checksum?: string; format?: string; size?: number; resumes?: number; refetchedBytes?: number } | null
}

/** storaged, its API and the readings the suite takes off its process. */
class Storaged {
  readonly api: RouterdApi
  private seq = 100

  constructor(readonly daemon: Daemon) {
    this.api = new RouterdApi(daemon.socket, daemon.token)
  }

  get pid(): number {
    return this.daemon.pid
  }

  nextId(): number {
    return ++this.seq
  }

  async putStore(id: string, dir: string): Promise<void> {
    await this.api.ok('PUT', `/v1/config/stores/${id}`, JSON.stringify({ id, url: `file://${dir}` }))
  }

  /**
   * Submits a job and follows it (GET every POLL_MS, bounded) until it has ended. `ms` is POST sent
   * to the job's own finishedAt (same clock, ms resolution; the poll interval adds nothing).
   */
  async runJob(request: Record<string, unknown>): Promise<{ job: JobView; ms: number; seenMs: number }> {
    const t0 = Date.now()
    const p0 = performance.now()
    const posted = await this.api.ok('POST', '/v1/jobs', JSON.stringify(request))
    const id = (posted.body as JobView).id
    const deadline = p0 + JOB_DEADLINE_MS
    for (;;) {
      const job = (await this.api.ok('GET', `/v1/jobs/${id}`)).body as JobView
      if (job.finishedAt !== null) return { job, ms: Date.parse(job.finishedAt) - t0, seenMs: performance.now() - p0 }
      if (performance.now() > deadline) throw new Error(`job ${id} (${String(request['kind'])}) did not end within ${JOB_DEADLINE_MS / 1000} s: ${JSON.stringify(job)}`)
      await sleep(POLL_MS)
    }
  }
}

/** VmRSS of a process every SAMPLE_MS while started: the peak and every reading. */
class RssSampler {
  private timer: NodeJS.Timeout | undefined
  private readings: number[] = []

  constructor(private readonly pid: number) {}

  start(): void {
    this.readings = [memory(this.pid).rssMb]
    this.timer = setInterval(() => {
      try { this.readings.push(memory(this.pid).rssMb) } catch { /* gone: the job's check fails anyway */ }
    }, SAMPLE_MS)
  }

  stop(): { peakMb: number; samples: number[] } {
    clearInterval(this.timer)
    this.readings.push(memory(this.pid).rssMb)
    return { peakMb: round(Math.max(...this.readings), 1), samples: this.readings.map((r) => round(r, 1)) }
  }
}

/** Tools timed inside a namespace by bench/netns-timer.ts (spawn to exit of each tool only). */
async function timeInNs(ns: string, steps: readonly TimedStep[]): Promise<number[]> {
  const r = await run(process.execPath, [TIMER], { netns: ns, stdin: JSON.stringify({ steps }), timeoutMs: 600_000 })
  return (JSON.parse(r.stdout) as { ms: number[] }).ms
}

/** Spawn to exit of one tool run by this process. */
async function timeTool(tool: string, args: readonly string[]): Promise<number> {
  const t0 = performance.now()
  await run(binary(tool), args, { timeoutMs: 600_000 })
  return performance.now() - t0
}

function sha256File(path: string): string {
  const hash = createHash('sha256')
  const fd = openSync(path, 'r')
  try {
    const buf = Buffer.allocUnsafe(4 * MiB)
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) hash.update(buf.subarray(0, n))
  } finally {
    closeSync(fd)
  }
  return hash.digest('hex')
}

/** `size` bytes of random data (incompressible, read as 'raw' by the format detection); returns its SHA-256. */
function writeRandomFile(path: string, size: number): string {
  const hash = createHash('sha256')
  const buf = Buffer.allocUnsafe(16 * MiB)
  const fd = openSync(path, 'w')
  try {
    for (let done = 0; done < size;) {
      const part = buf.subarray(0, Math.min(buf.length, size - done))
      randomFillSync(part)
      hash.update(part)
      for (let w = 0; w < part.length;) w += writeSync(fd, part, w)
      done += part.length
    }
  } finally {
    closeSync(fd)
  }
  return hash.digest('hex')
}

/**
 * Writes `size` bytes into a scratch file on the stores' tmpfs and removes it, right before a
 * timed side, so that side writes into memory this VM has used before. Not a page cache matter:
 * this machine's memory is backed lazily by its host, and writing 1 GiB into pages the guest
 * never touched took 2.9 s (dd, sys) against 0.45 s into recycled ones; without this, which side
 * got fresh pages decided a round (perf: 42 % of storaged's samples in the tmpfs copy, 6 % when
 * the same code ran into recycled pages).
 */
function primeMemory(dir: string, size: number): void {
  const path = join(dir, '.prime')
  const buf = Buffer.alloc(16 * MiB, 0x5a)
  const fd = openSync(path, 'w')
  try {
    for (let done = 0; done < size;) {
      const part = buf.subarray(0, Math.min(buf.length, size - done))
      for (let w = 0; w < part.length;) w += writeSync(fd, part, w)
      done += part.length
    }
  } finally {
    closeSync(fd)
    rmSync(path, { force: true })
  }
}

async function mountTmpfs(dir: string, size: string): Promise<void> {
  await run(binary('mount'), ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir])
  onCleanup(`tmpfs ${dir}`, async () => {
    // Lazily when still busy: the files go once the last process holding them is gone.
    await run(binary('umount'), [dir]).catch(() => run(binary('umount'), ['-l', dir]))
  })
}

/** bench/peers/file-server.mjs in the web namespace; resolves once it listens. */
async function startFileServer(lab: StorageLab, dir: string): Promise<StartedProcess> {
  const p = lab.start(lab.ns.web, process.execPath, [SERVER_SCRIPT, '--dir', dir, '--host', STORAGE_LAB_ADDR.web, '--port', String(PORT)])
  onCleanup('file server', async () => { p.kill('SIGKILL'); await p.exited })
  let exited = false
  void p.exited.then(() => { exited = true })
  for (let i = 0; i < 100; i++) {
    if (p.output().includes('{"listening"')) return p
    if (exited) break
    await sleep(50)
  }
  throw new Error(`the file server did not start: ${p.output().slice(-2000)}`)
}

interface ServerUrlStats { requests: number; bodyBytes: number; responses: { status: number; start: number; sent: number }[] }

/** The file server's counters for one URL (path and query, as requested). */
async function serverStats(lab: StorageLab, pathAndQuery: string): Promise<ServerUrlStats> {
  const r = await run(binary('curl'), ['-sS', '-f', '-m', '10', `${BASE}/__stats`], { netns: lab.ns.ssvm })
  const all = JSON.parse(r.stdout) as Record<string, ServerUrlStats>
  const s = all[pathAndQuery]
  if (s === undefined) throw new Error(`the file server saw no request for ${pathAndQuery}`)
  return s
}

function range(samples: readonly number[], digits = 1): { min: number; median: number; max: number } {
  return { min: round(Math.min(...samples), digits), median: round(median(samples), digits), max: round(Math.max(...samples), digits) }
}
const fmt = (r: { min: number; median: number; max: number }) => `${r.min}/${r.median}/${r.max}`

/** A throughput ratio result (medians over rounds; ratio = ours / peer_value) and its details. */
function ratioResult(name: string, ours: number[], peer: number[], peerName: string, target: number): string {
  const o = median(ours)
  const p = median(peer)
  const ratio = round(o / p, 3)
  results.push({ name, unit: 'MiB/s', ours: round(o, 1), peer: peerName, peer_value: round(p, 1), ratio, target: `ratio >= ${target}`, pass: ratio >= target })
  const perRound = ours.map((v, i) => v / (peer[i] as number))
  return `ours ${fmt(range(ours))} MiB/s, peer ${fmt(range(peer))} MiB/s, ours/peer per round ${fmt(range(perRound, 2))}`
}

interface Setup { lab: StorageLab; s: Storaged; server: StartedProcess; stores: string; web: string; sha256: string }

function templateRequest(s: Storaged, store: string, path: string, checksum: string | undefined): Record<string, unknown> {
  const id = s.nextId()
  return {
    kind: 'download', store, resource: 'template', url: `${BASE}${path}`, accountId: ACCOUNT, id, name: `bench-${id}`, format: 'raw',
    ...(checksum === undefined ? {} : { checksum: `{SHA-256}${checksum}` }),
  }
}

function expectDownloaded(job: JobView, what: string, size: number, sha256: string): void {
  const r = job.result
  if (job.state !== 'DOWNLOADED' || r === null || r.size !== size || r.format !== 'raw' || r.checksum !== `{SHA-256}${sha256}`) {
    throw new Error(`${what}: the job did not install the image whole: ${JSON.stringify(job)}`)
  }
}

/** The install directory of a template job, absolute in store directory `storeDir`. */
const installDir = (storeDir: string, request: Record<string, unknown>) => join(storeDir, 'template', 'tmpl', String(ACCOUNT), String(request['id']))

async function benchDownload(x: Setup): Promise<void> {
  const { lab, s, stores } = x
  const storeA = join(stores, 'a')
  const peerDir = join(storeA, 'peer')
  mkdirSync(peerDir, { recursive: true })
  const peerFile = join(peerDir, 'image.raw')
  const curl = (url: string, out: string): TimedStep => ({ tool: 'curl', args: ['-sS', '-f', '-o', out, url], timed: true })

  // Warm-up, not counted: storaged's download path compiled, the server's too, curl's binary cached.
  const warm = await s.runJob(templateRequest(s, 'a', '/warm.raw?round=warm', undefined))
  if (warm.job.state !== 'DOWNLOADED') throw new Error(`warm-up download failed: ${JSON.stringify(warm.job)}`)
  await timeInNs(lab.ns.ssvm, [curl(`${BASE}/warm.raw?round=warm-curl`, peerFile)])
  rmSync(join(stores, 'a', 'template'), { recursive: true, force: true })
  rmSync(peerFile, { force: true })
  const idleRss = memory(s.pid)

  type Side = 'storaged' | 'curl'
  const ours: number[] = []
  const peer: number[] = []
  const curlSha: number[] = []
  const ceiling: number[] = []
  const rss: { peakMb: number; samples: number[] }[] = []
  const rounds: unknown[] = []
  const sampler = new RssSampler(s.pid)
  const serverCpu = () => cpuMs(x.server.pid)
  await bounded(ROUNDS, 20 * 60_000, async (k) => {
    const order: Side[] = k % 2 === 0 ? ['storaged', 'curl'] : ['curl', 'storaged']
    const record: Record<string, unknown> = { order }
    for (const side of order) {
      primeMemory(stores, SIZE)
      if (side === 'storaged') {
        const request = templateRequest(s, 'a', `/image.raw?round=d${k}`, x.sha256)
        const cpu0 = cpuMs(s.pid)
        const scpu0 = serverCpu()
        sampler.start()
        const { job, ms, seenMs } = await s.runJob(request)
        const r = sampler.stop()
        const cpu = cpuMs(s.pid) - cpu0
        const scpu = serverCpu() - scpu0
        expectDownloaded(job, `download round ${k + 1}`, SIZE, x.sha256)
        const sent = await serverStats(lab, `/image.raw?round=d${k}`)
        if (k === 0) {
          // Once: the installed file is the served one, byte for byte, and the template is listed.
          const installed = join(storeA, job.result?.installPath ?? '')
          if (sha256File(installed) !== x.sha256) throw new Error(`the installed ${installed} differs from the served file`)
          const listed = ((await s.api.ok('GET', '/v1/stores/a/templates')).body.installs as { id: number }[]).map((i) => i.id)
          if (!listed.includes(request['id'] as number)) throw new Error(`template ${String(request['id'])} is not listed after its download`)
        }
        rmSync(installDir(storeA, request), { recursive: true, force: true })
        ours.push(mibPerS(SIZE, ms))
        rss.push(r)
        record['storaged'] = {
          ms: round(ms, 0), mibPerS: round(mibPerS(SIZE, ms), 1), seenByPollMs: round(seenMs, 0), storagedCpuMs: round(cpu, 0), serverCpuMs: round(scpu, 0),
          serverBodyBytes: sent.bodyBytes, requests: sent.requests, rssPeakMb: r.peakMb, rssSamplesMb: r.samples,
        }
      } else {
        const scpu0 = serverCpu()
        const [curlMs, shaMs] = await timeInNs(lab.ns.ssvm, [curl(`${BASE}/image.raw?round=c${k}`, peerFile), { tool: 'sha256sum', args: [peerFile], timed: true }]) as [number, number]
        const scpu = serverCpu() - scpu0
        if (statSync(peerFile).size !== SIZE) throw new Error(`curl wrote ${statSync(peerFile).size} bytes, not ${SIZE}`)
        if (k === 0 && sha256File(peerFile) !== x.sha256) throw new Error('curl\'s file differs from the served file')
        rmSync(peerFile, { force: true })
        // The network and the server alone: the same URL to /dev/null.
        const [nullMs] = await timeInNs(lab.ns.ssvm, [curl(`${BASE}/image.raw?round=n${k}`, '/dev/null')]) as [number]
        peer.push(mibPerS(SIZE, curlMs))
        curlSha.push(mibPerS(SIZE, curlMs + shaMs))
        ceiling.push(mibPerS(SIZE, nullMs))
        record['curl'] = { ms: round(curlMs, 0), mibPerS: round(mibPerS(SIZE, curlMs), 1), serverCpuMs: round(scpu, 0), sha256sumMs: round(shaMs, 0), curlDevNullMs: round(nullMs, 0) }
      }
    }
    rounds.push(record)
    log(`download round ${k + 1}/${ROUNDS} (${order.join(', ')}): storaged ${round(ours.at(-1) ?? 0, 0)} MiB/s (peak RSS ${rss.at(-1)?.peakMb} MB), curl ${round(peer.at(-1) ?? 0, 0)} MiB/s, curl to /dev/null ${round(ceiling.at(-1) ?? 0, 0)} MiB/s`)
  })
  const after = memory(s.pid)
  const line = ratioResult('download_sha256_vs_curl', ours, peer, '`curl -sS -f -o <file>` (Debian curl) of the same URL, run in the ssvm namespace, into the same tmpfs as the path store; spawn to exit, timed inside the namespace', 1.0)
  const ratios = ours.map((o, i) => o / (curlSha[i] as number))
  details['download_sha256_vs_curl'] = {
    sizeBytes: SIZE, url: `${BASE}/image.raw?round=<r>`, request: { resource: 'template', format: 'raw', checksum: '{SHA-256}<hex>' }, rounds,
    ours: summary(ours, 1), curl: summary(peer, 1),
    curlThenSha256sum: { what: 'curl -o, then sha256sum of the file (coreutils), summed: a download with its checksum checked by hand', mibPerS: summary(curlSha, 1), oursOverIt: summary(ratios, 3) },
    curlToDevNull: { what: 'curl -o /dev/null of the same URL: the network and the server alone (no file, no hash)', mibPerS: summary(ceiling, 1) },
  }
  const cpuPerGiB = (ms: number) => round(ms / (SIZE / 1024 / MiB), 0)
  const jobCpu = rounds.map((r) => cpuPerGiB(((r as { storaged: { storagedCpuMs: number } }).storaged.storagedCpuMs)))
  notes.push(`download: ${ROUNDS} rounds alternating, min/median/max: ${line}; curl then sha256sum ${fmt(range(curlSha))} MiB/s (ours over it ${fmt(range(ratios, 2))}); curl to /dev/null ${fmt(range(ceiling))} MiB/s (network + server ceiling)`)
  notes.push(`download CPU: storaged ${fmt(range(jobCpu, 0))} ms per GiB (all threads, /proc/<pid>/stat), against its wall time ${fmt(range(ours.map((o) => 1024 / o * 1000), 0))} ms per GiB; SHA-256 alone on one core of this node: ${round(1024 / (details['hashMibPerS'] as number) * 1000, 0)} ms per GiB`)

  const peaks = rss.map((r) => r.peakMb)
  const peak = Math.max(...peaks)
  results.push({ name: 'storaged_rss_mb_download', unit: 'MB', ours: round(peak, 1), peer: null, peer_value: null, ratio: null, target: 'ours <= 100 MB', pass: peak <= 100 })
  details['storaged_rss_mb_download'] = {
    what: `VmRSS from /proc/<pid>/status every ${SAMPLE_MS} ms during each timed download; ours = the largest reading of all rounds`,
    peakPerRoundMb: peaks, idleBeforeMb: { vmRss: round(idleRss.rssMb, 1), rssAnon: round(idleRss.anonMb, 1), rssFile: round(idleRss.fileMb, 1) },
    afterDownloadsMb: { vmRss: round(after.rssMb, 1), rssAnon: round(after.anonMb, 1), vmHwm: round(after.hwmMb, 1) },
  }
  notes.push(`rss: idle after the warm-up ${idleRss.rssMb.toFixed(1)} MB; peak per download ${peaks.join(', ')} MB; VmHWM after the downloads ${after.hwmMb.toFixed(1)} MB`)
}

/** Drop offsets for round k: DROPS offsets spread over the file, none on a 64 KiB boundary, different every round. */
function dropOffsets(k: number): number[] {
  const fractions = [0.13, 0.31, 0.5, 0.67, 0.86]
  return fractions.slice(0, DROPS).map((f, j) => Math.floor(SIZE * (f + 0.017 * k)) + 7919 * (j + 1) + 4099 * k)
}

async function benchResume(x: Setup): Promise<void> {
  const { lab, s, stores } = x
  const storeA = join(stores, 'a')
  const rounds: unknown[] = []
  const jobPct: number[] = []
  const serverPct: number[] = []
  const sampler = new RssSampler(s.pid)
  await bounded(RESUME_ROUNDS, 10 * 60_000, async (k) => {
    const drops = dropOffsets(k)
    const path = `/image.raw?drops=${drops.join(',')}&round=r${k}`
    const request = templateRequest(s, 'a', path, x.sha256)
    sampler.start()
    const { job, ms } = await s.runJob(request)
    const r = sampler.stop()
    expectDownloaded(job, `resume round ${k + 1}`, SIZE, x.sha256)
    const sent = await serverStats(lab, path)
    rmSync(installDir(storeA, request), { recursive: true, force: true })
    const resumes = job.result?.resumes ?? 0
    const cut = sent.responses.filter((resp) => resp.start + resp.sent < SIZE).length
    if (cut !== DROPS) throw new Error(`resume round ${k + 1}: the server cut ${cut} responses, not ${DROPS}: ${JSON.stringify(sent)}`)
    // Bytes the server sent before a cut that the next request asked for again (received, then lost by the client).
    const lostAtCuts = sent.responses.slice(0, -1).map((resp, i) => resp.start + resp.sent - (sent.responses[i + 1] as { start: number }).start)
    const refetched = job.result?.refetchedBytes ?? 0
    const extra = sent.bodyBytes - SIZE
    jobPct.push((refetched / SIZE) * 100)
    serverPct.push((extra / SIZE) * 100)
    rounds.push({ drops, ms: round(ms, 0), resumes, requests: sent.requests, refetchedBytes: refetched, serverBodyBytes: sent.bodyBytes, serverExtraBytes: extra, lostAtEachCut: lostAtCuts, responses: sent.responses, rssPeakMb: r.peakMb })
    log(`resume round ${k + 1}/${RESUME_ROUNDS}: ${resumes} resumes, refetchedBytes ${refetched}, server sent ${sent.bodyBytes} bytes (${extra} over the file) in ${sent.requests} requests, sent again at each cut ${lostAtCuts.join(', ')}, ${round(ms / 1000, 1)} s`)
  })
  const worst = Math.max(...serverPct, ...jobPct)
  results.push({ name: 'resume_waste_pct', unit: '%', ours: round(Math.max(...serverPct), 4), peer: null, peer_value: null, ratio: null, target: 'ours <= 1 % (server-side and job-reported, every round)', pass: worst <= 1 })
  details['resume_waste_pct'] = {
    what: `${DROPS} connections cut by the server (FIN after the bytes up to an offset, each offset once) during a ${SIZE / MiB} MiB download with {SHA-256}; ours = the largest server-side waste of the rounds ((body bytes sent - file size) / file size); the job's result.refetchedBytes is the other, independent reading`,
    serverSidePct: serverPct.map((p) => round(p, 4)), jobReportedPct: jobPct.map((p) => round(p, 4)), rounds,
  }
  notes.push(`resume: ${RESUME_ROUNDS} rounds of ${DROPS} drops each; fetched again: server-side ${serverPct.map((p) => round(p, 4)).join(', ')} %, job's refetchedBytes ${jobPct.map((p) => round(p, 4)).join(', ')} %; each drop costs one retry delay (download.retryDelaySeconds, 1 s by default)`)
}

async function benchCopy(x: Setup): Promise<void> {
  const { s, stores } = x
  const storeA = join(stores, 'a')
  const storeB = join(stores, 'b')
  // The source: a template downloaded into store a (not timed).
  const sourceRequest = templateRequest(s, 'a', '/image.raw?round=copy-source', x.sha256)
  const prepared = await s.runJob(sourceRequest)
  expectDownloaded(prepared.job, 'the copy source', SIZE, x.sha256)
  const installPath = prepared.job.result?.installPath as string
  const relDir = installPath.split('/').slice(0, -1).join('/')
  const source = join(storeA, installPath)
  const dest = join(storeB, installPath)
  const destDir = join(storeB, relDir)
  const copyRequest = { kind: 'copy', from: { store: 'a', path: relDir }, to: { store: 'b' } }

  // Warm-up, not counted.
  const warm = await s.runJob(copyRequest)
  if (warm.job.state !== 'DOWNLOADED') throw new Error(`warm-up copy failed: ${JSON.stringify(warm.job)}`)
  if (sha256File(dest) !== x.sha256) throw new Error('the copied template differs from its source')
  rmSync(join(storeB, 'template'), { recursive: true, force: true })

  type Side = 'storaged' | 'cp'
  const ours: number[] = []
  const peer: number[] = []
  const cpCmp: number[] = []
  const rounds: unknown[] = []
  await bounded(ROUNDS, 15 * 60_000, async (k) => {
    const order: Side[] = k % 2 === 0 ? ['storaged', 'cp'] : ['cp', 'storaged']
    const record: Record<string, unknown> = { order }
    for (const side of order) {
      primeMemory(stores, SIZE)
      if (side === 'storaged') {
        const cpu0 = cpuMs(s.pid)
        const { job, ms } = await s.runJob(copyRequest)
        const cpu = cpuMs(s.pid) - cpu0
        if (job.state !== 'DOWNLOADED' || job.result?.size !== SIZE || statSync(dest).size !== SIZE) throw new Error(`copy round ${k + 1} failed: ${JSON.stringify(job)}`)
        rmSync(join(storeB, 'template'), { recursive: true, force: true })
        ours.push(mibPerS(SIZE, ms))
        record['storaged'] = { ms: round(ms, 0), mibPerS: round(mibPerS(SIZE, ms), 1), storagedCpuMs: round(cpu, 0) }
      } else {
        mkdirSync(destDir, { recursive: true })
        const cpMs = await timeTool('cp', [source, dest])
        if (statSync(dest).size !== SIZE) throw new Error(`cp wrote ${statSync(dest).size} bytes`)
        const cmpMs = await timeTool('cmp', [source, dest])
        rmSync(join(storeB, 'template'), { recursive: true, force: true })
        peer.push(mibPerS(SIZE, cpMs))
        cpCmp.push(mibPerS(SIZE, cpMs + cmpMs))
        record['cp'] = { ms: round(cpMs, 0), mibPerS: round(mibPerS(SIZE, cpMs), 1), cmpMs: round(cmpMs, 0) }
      }
    }
    rounds.push(record)
    log(`copy round ${k + 1}/${ROUNDS} (${order.join(', ')}): storaged ${round(ours.at(-1) ?? 0, 0)} MiB/s, cp ${round(peer.at(-1) ?? 0, 0)} MiB/s, cp + cmp ${round(cpCmp.at(-1) ?? 0, 0)} MiB/s`)
  })
  const line = ratioResult('copy_verify_vs_cp', ours, peer, '`cp <store a>/<install file> <store b>/<same path>` (GNU coreutils), the same file between the same directories of the same tmpfs; spawn to exit', 0.9)
  const ratios = ours.map((o, i) => o / (cpCmp[i] as number))
  details['copy_verify_vs_cp'] = {
    sizeBytes: SIZE, request: copyRequest, pageCache: 'warm for both sides: both stores are on one tmpfs (its pages are the cache; drop_caches does not apply)', rounds,
    ours: summary(ours, 1), cp: summary(peer, 1),
    cpThenCmp: { what: 'cp, then cmp of source and copy (a copy verified by reading it back, by hand)', mibPerS: summary(cpCmp, 1), oursOverIt: summary(ratios, 3) },
  }
  const jobCpu = rounds.map((r) => round((r as { storaged: { storagedCpuMs: number } }).storaged.storagedCpuMs / (SIZE / 1024 / MiB), 0))
  notes.push(`copy: ${ROUNDS} rounds alternating, min/median/max: ${line}; cp then cmp ${fmt(range(cpCmp))} MiB/s (ours over it ${fmt(range(ratios, 2))}); storaged CPU ${fmt(range(jobCpu, 0))} ms per GiB (no hash: each piece read back and compared)`)
}

/** Single-core hashing speed of this node (SHA-256 over 1 MiB buffers): the floor under any verified transfer here. */
function hashCeiling(): number {
  const buf = Buffer.allocUnsafe(MiB)
  randomFillSync(buf)
  const hash = createHash('sha256')
  const t0 = performance.now()
  for (let i = 0; i < 256; i++) hash.update(buf)
  hash.digest()
  return mibPerS(256 * MiB, performance.now() - t0)
}

async function versions(): Promise<Record<string, string>> {
  const first = async (tool: string, args: string[]) => {
    const r = await run(binary(tool), args).catch(() => ({ stdout: '?', stderr: '' }))
    return (r.stdout + r.stderr).trim().split('\n')[0] ?? '?'
  }
  return { curl: await first('curl', ['--version']), cp: await first('cp', ['--version']), node: process.version }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench-storage needs root (network namespaces, tmpfs mounts)')
  cleanupOnSignals()
  const started = performance.now()
  const loadAverage = { atStart: loadavg().map((l) => round(l, 2)), atEnd: [] as number[] }
  const command = readDaemonCommand('storaged', ROOT)
  const lab = await StorageLab.create('svmbench')
  onCleanup(`storage lab ${lab.id}`, () => lab.destroy())
  const stores = lab.mkdir('stores')
  const web = lab.mkdir('web')
  await mountTmpfs(stores, STORES_TMPFS)
  await mountTmpfs(web, WEB_TMPFS)
  for (const store of ['a', 'b']) mkdirSync(join(stores, store))
  log(`lab ${lab.id}; storaged: ${describeDaemonCommand(command, ROOT)}${PROF_DIR === undefined ? '' : ` --cpu-prof into ${PROF_DIR}`}`)
  log(`writing ${SIZE / MiB} MiB of random data`)
  const sha256 = writeRandomFile(join(web, 'image.raw'), SIZE)
  writeRandomFile(join(web, 'warm.raw'), WARM_SIZE)
  const server = await startFileServer(lab, web)
  const nodeArgs = PROF_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROF_DIR}`]
  const daemon = await lab.startStoraged({ command, nodeArgs, env: STORAGED_ENV })
  if (Object.keys(STORAGED_ENV).length > 0) log(`storaged environment over the unit's: ${JSON.stringify(STORAGED_ENV)}`)
  onCleanup('storaged', () => daemon.close())
  const s = new Storaged(daemon)
  await s.putStore('a', join(stores, 'a'))
  await s.putStore('b', join(stores, 'b'))
  const x: Setup = { lab, s, server, stores, web, sha256 }
  details['hashMibPerS'] = round(hashCeiling(), 0)
  details['versions'] = await versions()
  if (want('download')) await benchDownload(x)
  if (want('resume')) await benchResume(x)
  if (want('copy')) await benchCopy(x)
  const cpu = cpuMs(s.pid)
  // SIGTERM: storaged closes and exits (with --cpu-prof it writes its profile then).
  const code = await daemon.stop()
  if (PROF_DIR !== undefined) log(`storaged exited with ${code}; profile in ${PROF_DIR}`)
  details['storagedCpuMsTotal'] = round(cpu, 0)
  details['storagedLogTail'] = daemon.output().slice(-4000)
  const order = ['download_sha256_vs_curl', 'copy_verify_vs_cp', 'resume_waste_pct', 'storaged_rss_mb_download']
  results.sort((a, c) => order.indexOf(a.name) - order.indexOf(c.name))
  loadAverage.atEnd = loadavg().map((l) => round(l, 2))
  const doc = {
    suite: 'storage',
    target: 'download_sha256_vs_curl (vs curl -o) ratio >= 1.0; copy_verify_vs_cp (vs cp) ratio >= 0.9; resume_waste_pct <= 1; storaged_rss_mb_download <= 100 MB',
    machine: await machine(), loadAverage, daemon: describeDaemonCommand(command, ROOT) + (Object.keys(STORAGED_ENV).length > 0 ? ` with ${JSON.stringify(STORAGED_ENV)}` : '') + (PROF_DIR === undefined ? '' : ' --cpu-prof'), revision: await revision(ROOT), generatedAt: new Date().toISOString(),
    storage: `stores and curl's file on one tmpfs (${STORES_TMPFS}), the served file on another (${WEB_TMPFS}); page cache warm for both sides`,
    server: 'bench/peers/file-server.mjs in the web namespace (node, 64 KiB reads, Range, drop offsets, per-URL byte counters)',
    durationS: round((performance.now() - started) / 1000, 1), results, notes, details,
  }
  writeResults(RESULTS, doc)
}

await runSuite('bench-storage', main)

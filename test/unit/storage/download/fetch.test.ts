import { createHash, randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:net'
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorCode } from '../../../../src/core/errors.ts'
import { fetchToSink, type DownloadProgress, type DownloadSink, type FetchOptions } from '../../../../src/storage/download/fetch.ts'
import { openFileSink } from '../../../../src/storage/download/file-sink.ts'
import {
  makeTestCertificate, startForwardProxy, startImageServer, type ForwardProxy, type ImageServer, type TestCertificate,
} from '../../../helpers/image-http-server.ts'

/**
 * The fetcher against real HTTP(S) on 127.0.0.1 (image-http-server.mjs in this process, ephemeral
 * ports): every behaviour is asserted by bytes, counters and the server's request log, never by
 * the clock. Timeouts are short (200 ms) only so the tests are quick; nothing measures them.
 */

const SIZE = 3 * 1024 * 1024 + 4321
/** Fast retries: the backoff is not what is under test. */
const QUICK: FetchOptions = { retryDelayMs: 1, maxRetryDelayMs: 5, idleTimeoutMs: 5000 }

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

/** A sink in memory that records what the fetcher asked of it. */
function memorySink(initial: Buffer = Buffer.alloc(0), options: { slowMs?: number } = {}) {
  const chunks: Buffer[] = [initial]
  let inFlight = 0
  const sink = {
    offset: initial.length,
    writes: 0,
    truncates: 0,
    maxInFlight: 0,
    bytes: () => Buffer.concat(chunks),
    async truncate() {
      sink.truncates += 1
      chunks.length = 0
    },
    async write(chunk: Buffer) {
      inFlight += 1
      sink.maxInFlight = Math.max(sink.maxInFlight, inFlight)
      sink.writes += 1
      if (options.slowMs !== undefined) await new Promise((resolve) => setTimeout(resolve, options.slowMs))
      chunks.push(Buffer.from(chunk))
      inFlight -= 1
    },
  }
  return sink satisfies DownloadSink
}

/** The first byte a logged request asked for (its Range), 0 without one. */
const rangeStart = (r: { range: string | undefined } | undefined) => Number(/^bytes=(\d+)-$/.exec(r?.range ?? '')?.[1] ?? 0)

async function failure(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise
  } catch (err) {
    return err as Error & Record<string, unknown>
  }
  throw new Error('expected a failure')
}

describe('storage/download fetchToSink over loopback HTTP', () => {
  let dir: string
  let out: string
  let image: Buffer
  let server: ImageServer
  let tlsServer: ImageServer
  let proxy: ForwardProxy
  let cert: TestCertificate
  let outN = 0
  const target = () => join(out, `out-${++outN}.img`)

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'storaged-download-'))
    out = join(dir, 'out')
    await import('node:fs/promises').then((fs) => fs.mkdir(out))
    image = randomBytes(SIZE)
    await writeFile(join(dir, 'image.img'), image)
    await writeFile(join(dir, 'small.img'), image.subarray(0, 1000))
    cert = await makeTestCertificate(out)
    server = await startImageServer({ dir })
    tlsServer = await startImageServer({ dir, tls: { key: cert.key, cert: cert.cert } })
    proxy = await startForwardProxy({ auth: 'proxyuser:proxy secret' })
  })
  afterAll(async () => {
    await server?.close()
    await tlsServer?.close()
    await proxy?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('downloads a whole file into a file sink: identical bytes, one request, its validator and the progress', async () => {
    const path = target()
    const sink = await openFileSink(path)
    const progress: DownloadProgress[] = []
    const result = await fetchToSink(server.url('/image.img'), sink, { progressIntervalMs: 0, onProgress: (p) => progress.push(p) })
    await sink.close()
    expect(sha256(await readFile(path))).toBe(sha256(image))
    expect(result).toMatchObject({ bytes: SIZE, total: SIZE, wastedBytes: 0, restarts: 0, resumes: 0, requests: 1, contentType: 'application/octet-stream' })
    expect(result.validator.etag).toMatch(/^"/)
    expect(result.validator.lastModified).toMatch(/GMT$/)
    expect(progress.length).toBeGreaterThan(1)
    expect(progress.at(-1)).toMatchObject({ bytes: SIZE, total: SIZE, wastedBytes: 0 })
    expect(progress.every((p) => Number.isFinite(p.bytesPerSecond) && p.bytesPerSecond >= 0)).toBe(true)
    expect(progress.map((p) => p.bytes)).toEqual([...progress.map((p) => p.bytes)].sort((a, b) => a - b))
  })

  for (const drops of [1, 5]) {
    it(`resumes after ${drops} dropped connection(s) with Range and If-Range: byte-identical, nothing wasted`, async () => {
      const path = target()
      const sink = await openFileSink(path)
      const url = server.url('/image.img', { drop: 400_000, times: drops })
      const result = await fetchToSink(url, sink, QUICK)
      await sink.close()
      expect(sha256(await readFile(path))).toBe(sha256(image))
      expect(result).toMatchObject({ bytes: SIZE, wastedBytes: 0, restarts: 0, resumes: drops, requests: drops + 1 })
      const log = server.requests.filter((r) => r.url === url.slice(server.origin.length))
      // Each resume starts where the sink is: at most what the server sent before the drop (bytes
      // still in node's buffers when the socket broke are dropped with it, and fetched again).
      const starts = log.slice(1).map(rangeStart)
      expect(log[0]?.range).toBeUndefined()
      expect(starts).toHaveLength(drops)
      starts.forEach((start, i) => {
        expect(start).toBeGreaterThan(i === 0 ? 0 : starts[i - 1]!)
        expect(start).toBeLessThanOrEqual(400_000 * (i + 1))
      })
      expect(log.slice(1).every((r) => r.ifRange === result.validator.etag && r.status === 206)).toBe(true)
    })
  }

  it('a server that ignores Range answers 200: the sink is truncated, the bytes before counted as wasted', async () => {
    const sink = memorySink()
    const url = server.url('/image.img', { drop: 250_000, times: 1, ignoreRange: true })
    const result = await fetchToSink(url, sink, QUICK)
    expect(sha256(sink.bytes())).toBe(sha256(image))
    const asked = server.requests.filter((r) => r.url === url.slice(server.origin.length))
    expect(asked.map((r) => r.status)).toEqual([200, 200])
    expect(result).toMatchObject({ restarts: 1, resumes: 0, wastedBytes: rangeStart(asked[1]), requests: 2, bytes: SIZE })
    expect(result.wastedBytes).toBeGreaterThan(0)
    expect(result.wastedBytes).toBeLessThanOrEqual(250_000)
    expect(sink.truncates).toBe(1)
  })

  it('onRestart says why the sink was truncated and how much it held', async () => {
    const restarts: { reason: string; wastedBytes: number }[] = []
    const result = await fetchToSink(server.url('/image.img', { drop: 150_000, times: 1, ignoreRange: true }), memorySink(), { ...QUICK, onRestart: (r) => restarts.push(r) })
    expect(restarts).toEqual([{ reason: expect.stringMatching(/whole resource/), wastedBytes: result.wastedBytes }])
  })

  it('an ETag that changed between attempts: If-Range fails, the server sends it all, the fetch restarts from 0', async () => {
    const sink = memorySink()
    const url = server.url('/image.img', { drop: 300_000, times: 1, etag: 'changing' })
    const result = await fetchToSink(url, sink, QUICK)
    expect(sha256(sink.bytes())).toBe(sha256(image))
    const [first, second] = server.requests.filter((r) => r.url === url.slice(server.origin.length))
    expect(result).toMatchObject({ restarts: 1, wastedBytes: rangeStart(second), requests: 2 })
    expect(result.wastedBytes).toBeGreaterThan(0)
    expect(second?.ifRange).toBeDefined()
    expect(second?.ifRange).not.toBe(result.validator.etag)
    expect(first?.status).toBe(200)
    expect(second?.status).toBe(200)
  })

  it('without a strong ETag, If-Range carries Last-Modified; without any validator, Range goes alone', async () => {
    const weak = server.url('/image.img', { drop: 100_000, times: 1, etag: 'weak' })
    const none = server.url('/image.img', { drop: 100_000, times: 1, validators: 'none' })
    for (const url of [weak, none]) {
      const sink = memorySink()
      const result = await fetchToSink(url, sink, QUICK)
      expect(sha256(sink.bytes())).toBe(sha256(image))
      expect(result).toMatchObject({ resumes: 1, wastedBytes: 0 })
    }
    const second = (url: string) => server.requests.filter((r) => r.url === url.slice(server.origin.length))[1]
    expect(second(weak)?.ifRange).toMatch(/GMT$/)
    expect(second(none)).toMatchObject({ range: expect.stringMatching(/^bytes=\d+-$/), ifRange: undefined, status: 206 })
  })

  it('a chunked response (no length) that breaks off resumes, and learns the length from Content-Range', async () => {
    const sink = memorySink()
    const result = await fetchToSink(server.url('/image.img', { drop: 500_000, times: 1, chunked: true }), sink, QUICK)
    expect(sha256(sink.bytes())).toBe(sha256(image))
    expect(result).toMatchObject({ resumes: 1, wastedBytes: 0, total: SIZE })
  })

  it('a 206 whose Content-Range starts elsewhere is not appended: the fetch starts again without Range', async () => {
    const sink = memorySink()
    const url = server.url('/image.img', { drop: 200_000, times: 1, badRange: true })
    const result = await fetchToSink(url, sink, QUICK)
    expect(sha256(sink.bytes())).toBe(sha256(image))
    const asked = server.requests.filter((r) => r.url === url.slice(server.origin.length))
    expect(asked.map((r) => r.range)).toEqual([undefined, expect.stringMatching(/^bytes=\d+-$/), undefined])
    expect(result).toMatchObject({ restarts: 1, wastedBytes: rangeStart(asked[1]), requests: 3 })
  })

  it('a fresh call with offset > 0 (a temp file reopened after a restart) asks only for the rest', async () => {
    const first = await fetchToSink(server.url('/image.img'), memorySink())
    const path = target()
    await writeFile(path, image.subarray(0, 1_234_567))
    const sink = await openFileSink(path)
    expect(sink.offset).toBe(1_234_567)
    const url = server.url('/image.img', { times: 0 })
    const result = await fetchToSink(url, sink, { validator: first.validator })
    await sink.close()
    expect(sha256(await readFile(path))).toBe(sha256(image))
    expect(result).toMatchObject({ requests: 1, resumes: 1, restarts: 0, wastedBytes: 0, bytes: SIZE })
    expect(server.requests.at(-1)).toMatchObject({ range: 'bytes=1234567-', ifRange: first.validator.etag, status: 206 })
  })

  it('a fresh call at offset > 0 with a validator of another version restarts from 0', async () => {
    const sink = memorySink(image.subarray(0, 5000))
    const result = await fetchToSink(server.url('/image.img'), sink, { validator: { etag: '"another-version"' } })
    expect(sha256(sink.bytes())).toBe(sha256(image))
    expect(result).toMatchObject({ restarts: 1, wastedBytes: 5000 })
  })

  it('416: a sink that holds the whole file is complete without a write; one longer than the file starts again', async () => {
    const full = memorySink(image.subarray(0, 1000))
    const done = await fetchToSink(server.url('/small.img'), full)
    expect(done).toMatchObject({ bytes: 1000, total: 1000, requests: 1, restarts: 0 })
    expect(full.writes).toBe(0)
    // Longer than the file: from 0, and the server's ranges still serve the resume after a drop.
    const longer = memorySink(Buffer.concat([image, Buffer.from('junk')]))
    const restarts: unknown[] = []
    const again = await fetchToSink(server.url('/image.img', { drop: 400_000, times: 2 }), longer, { ...QUICK, onRestart: (r) => restarts.push(r) })
    expect(again).toMatchObject({ bytes: SIZE, restarts: 1, resumes: 1, wastedBytes: SIZE + 4, requests: 3 })
    expect(restarts).toEqual([{ reason: `we hold ${SIZE + 4} bytes, the resource now has ${SIZE}`, wastedBytes: SIZE + 4 }])
    expect(sha256(longer.bytes())).toBe(sha256(image))
  })

  it('a file sink reopened at its length after a partial write resumes the same way (appendFile, then fetch)', async () => {
    const path = target()
    await writeFile(path, image.subarray(0, 10))
    await appendFile(path, image.subarray(10, 700_000))
    const sink = await openFileSink(path)
    await fetchToSink(server.url('/image.img'), sink)
    await sink.close()
    expect(sha256(await readFile(path))).toBe(sha256(image))
  })

  it('404 is ERR_DOWNLOAD_HTTP with the status and "not found", and is not retried', async () => {
    const url = server.url('/missing.img', {})
    const err = await failure(fetchToSink(url, memorySink(), QUICK))
    expect(errorCode(err)).toBe('ERR_DOWNLOAD_HTTP')
    expect(err['status']).toBe(404)
    expect(err.message).toMatch(/not found \(HTTP 404\)$/)
    expect(server.hits('/missing.img')).toHaveLength(1)
  })

  it('a 503 is retried; one that persists gives up with ERR_DOWNLOAD_RESUME naming the last failure', async () => {
    const once = memorySink()
    const retries: unknown[] = []
    const result = await fetchToSink(server.url('/image.img', { status: 503, times: 1 }), once, { ...QUICK, onRetry: (info) => retries.push(info) })
    expect(result.requests).toBe(2)
    expect(retries).toEqual([{ error: expect.objectContaining({ code: 'ERR_DOWNLOAD_HTTP', status: 503 }), failuresInRow: 1, delayMs: 1, position: 0 }])
    expect(sha256(once.bytes())).toBe(sha256(image))
    const err = await failure(fetchToSink(server.url('/image.img', { status: 503 }), memorySink(), { ...QUICK, retries: 2 }))
    expect(errorCode(err)).toBe('ERR_DOWNLOAD_RESUME')
    expect(err).toMatchObject({ attempts: 3, lastCode: 'ERR_DOWNLOAD_HTTP' })
  })

  it('a server that accepts and never answers: ERR_DOWNLOAD_TIMEOUT in the headers phase', async () => {
    const err = await failure(fetchToSink(server.url('/image.img', { hang: true }), memorySink(), { retries: 0, idleTimeoutMs: 200 }))
    expect(errorCode(err)).toBe('ERR_DOWNLOAD_TIMEOUT')
    expect(err['phase']).toBe('headers')
  })

  it('a server that stops sending mid-body: ERR_DOWNLOAD_TIMEOUT in the body phase (no retries)', async () => {
    const sink = memorySink()
    // 1 s, not 200 ms: the headers must come within it even on a loaded machine, for the phase to be the body's.
    const err = await failure(fetchToSink(server.url('/image.img', { stall: 100_000 }), sink, { retries: 0, idleTimeoutMs: 1000 }))
    expect(errorCode(err)).toBe('ERR_DOWNLOAD_TIMEOUT')
    expect(err['phase']).toBe('body')
    expect(sink.bytes().length).toBeGreaterThan(0)
    expect(sink.bytes().length).toBeLessThanOrEqual(100_000)
  })

  it('a stall once is cured by a resume; stalls with no progress at all give up with ERR_DOWNLOAD_RESUME', async () => {
    const sink = memorySink()
    const url = server.url('/image.img', { stall: 123_456, times: 1 })
    const result = await fetchToSink(url, sink, { ...QUICK, idleTimeoutMs: 200 })
    expect(sha256(sink.bytes())).toBe(sha256(image))
    // One resume for the stall (a loaded machine may add one: 200 ms of silence is a stall too).
    expect(result.resumes).toBeGreaterThanOrEqual(1)
    expect(result.wastedBytes).toBe(0)
    expect(server.requests.find((r) => r.url === url.slice(server.origin.length) && r.count === 2)?.range).toMatch(/^bytes=\d+-$/)
    const err = await failure(fetchToSink(server.url('/image.img', { stall: 0 }), memorySink(), { ...QUICK, idleTimeoutMs: 200, retries: 2 }))
    expect(err).toMatchObject({ code: 'ERR_DOWNLOAD_RESUME', attempts: 3, lastCode: 'ERR_DOWNLOAD_TIMEOUT' })
  })

  it('drops with progress every time never exhaust the retries: each attempt that brings bytes resets the count', async () => {
    const sink = memorySink()
    const result = await fetchToSink(server.url('/image.img', { drop: 250_000, times: 11 }), sink, { ...QUICK, retries: 1 })
    expect(sha256(sink.bytes())).toBe(sha256(image))
    expect(result.resumes).toBe(11)
  })

  it('nothing listening: ERR_DOWNLOAD_NETWORK (retries 0)', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s: Server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number }
        s.close(() => resolve(port))
      })
    })
    const err = await failure(fetchToSink(`http://127.0.0.1:${closed}/image.img`, memorySink(), { retries: 0 }))
    expect(errorCode(err)).toBe('ERR_DOWNLOAD_NETWORK')
    expect(err.message).toMatch(/ECONNREFUSED/)
  })

  /** A raw TCP server answering every connection with `answer` (then closing), counting connections. */
  async function rawServer(answer: (n: number) => Buffer): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
    let n = 0
    const s: Server = createServer((socket) => {
      n += 1
      socket.once('data', () => socket.end(answer(n)))
      socket.on('error', () => {})
    })
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
    const { port } = s.address() as { port: number }
    return { url: `http://127.0.0.1:${port}/x.img`, connections: () => n, close: () => new Promise((resolve) => s.close(() => resolve())) }
  }

  it('an HTTP/1.0 body without a length ends with the connection, and is whole', async () => {
    const raw = await rawServer(() => Buffer.concat([Buffer.from('HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n'), image]))
    try {
      const sink = memorySink()
      const result = await fetchToSink(raw.url, sink, QUICK)
      expect(result).toMatchObject({ bytes: SIZE, total: SIZE, requests: 1, contentType: 'application/octet-stream' })
      expect(sha256(sink.bytes())).toBe(sha256(image))
    } finally {
      await raw.close()
    }
  })

  it('a malformed response is a network failure, retried, then ERR_DOWNLOAD_RESUME naming it; nothing written', async () => {
    const raw = await rawServer(() => Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello'))
    try {
      const sink = memorySink()
      const err = await failure(fetchToSink(raw.url, sink, { ...QUICK, retries: 2 }))
      expect(errorCode(err)).toBe('ERR_DOWNLOAD_RESUME')
      expect(err.message).toMatch(/malformed response: the response has two different Content-Length headers/)
      expect(raw.connections()).toBe(3)
      expect(sink.writes).toBe(0)
    } finally {
      await raw.close()
    }
  })

  it('a body cut short of its Content-Length by the close is resumed with Range', async () => {
    const half = image.subarray(0, 1_000_000)
    const raw = await rawServer((n) => n === 1
      ? Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${SIZE}\r\nETag: "v1"\r\n\r\n`), half])
      : Buffer.concat([Buffer.from(`HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 1000000-${SIZE - 1}/${SIZE}\r\nContent-Length: ${SIZE - 1_000_000}\r\nETag: "v1"\r\n\r\n`), image.subarray(1_000_000)]))
    try {
      const sink = memorySink()
      const result = await fetchToSink(raw.url, sink, QUICK)
      expect(result).toMatchObject({ bytes: SIZE, resumes: 1, requests: 2, wastedBytes: 0 })
      expect(sha256(sink.bytes())).toBe(sha256(image))
    } finally {
      await raw.close()
    }
  })

  it('Content-Length over the maximum fails before any byte is written', async () => {
    const sink = memorySink()
    const err = await failure(fetchToSink(server.url('/image.img'), sink, { maxBytes: SIZE - 1 }))
    expect(err).toMatchObject({ code: 'ERR_DOWNLOAD_TOO_LARGE', maxBytes: SIZE - 1 })
    expect(sink.writes + sink.truncates).toBe(0)
  })

  it('a stream without a length fails as soon as it passes the maximum, nothing past it written', async () => {
    const sink = memorySink()
    const err = await failure(fetchToSink(server.url('/image.img', { chunked: true }), sink, { maxBytes: 1_000_000 }))
    expect(errorCode(err)).toBe('ERR_DOWNLOAD_TOO_LARGE')
    expect(sink.bytes().length).toBeLessThanOrEqual(1_000_000)
    expect(sink.bytes().equals(image.subarray(0, sink.bytes().length))).toBe(true)
  })

  it('a redirect is ERR_DOWNLOAD_REDIRECT unless allowed; allowed, it is followed (relative Location)', async () => {
    server.setBehaviour('/moved.img', { redirect: '/image.img', redirectStatus: 301 })
    const err = await failure(fetchToSink(server.url('/moved.img'), memorySink()))
    expect(err).toMatchObject({ code: 'ERR_DOWNLOAD_REDIRECT', status: 301 })
    expect(err.message).toMatch(/not allowed/)
    const sink = memorySink()
    const result = await fetchToSink(server.url('/moved.img'), sink, { followRedirects: true })
    expect(sha256(sink.bytes())).toBe(sha256(image))
    expect(result).toMatchObject({ requests: 2, url: `${server.origin}/image.img` })
  })

  it('five redirects are followed, a sixth is not', async () => {
    for (let i = 1; i <= 6; i++) server.setBehaviour(`/hop${i}`, { redirect: i === 6 ? '/image.img' : `/hop${i + 1}` })
    const five = await fetchToSink(server.url('/hop2'), memorySink(), { followRedirects: true })
    expect(five.requests).toBe(6)
    const err = await failure(fetchToSink(server.url('/hop1'), memorySink(), { followRedirects: true }))
    expect(err).toMatchObject({ code: 'ERR_DOWNLOAD_REDIRECT', message: expect.stringMatching(/more than 5 redirects/) })
  })

  it('https with the CA given; an untrusted certificate is ERR_DOWNLOAD_TLS, not retried', async () => {
    const sink = memorySink()
    await fetchToSink(tlsServer.url('/image.img'), sink, { ca: cert.cert })
    expect(sha256(sink.bytes())).toBe(sha256(image))
    const before = tlsServer.requests.length
    const err = await failure(fetchToSink(tlsServer.url('/small.img'), memorySink(), QUICK))
    expect(errorCode(err)).toBe('ERR_DOWNLOAD_TLS')
    expect(tlsServer.requests.length).toBe(before)
  })

  it('https resumes after drops like http', async () => {
    const sink = memorySink()
    const result = await fetchToSink(tlsServer.url('/image.img', { drop: 700_000, times: 2 }), sink, { ...QUICK, ca: cert.cert })
    expect(sha256(sink.bytes())).toBe(sha256(image))
    expect(result).toMatchObject({ resumes: 2, wastedBytes: 0 })
  })

  it('http → https redirects are followed; https → http ones are refused even when redirects are allowed', async () => {
    server.setBehaviour('/up.img', { redirect: `${tlsServer.origin}/small.img` })
    const up = await fetchToSink(server.url('/up.img'), memorySink(), { followRedirects: true, ca: cert.cert })
    expect(up).toMatchObject({ bytes: 1000, url: `${tlsServer.origin}/small.img` })
    tlsServer.setBehaviour('/down.img', { redirect: `${server.origin}/small.img` })
    const err = await failure(fetchToSink(tlsServer.url('/down.img'), memorySink(), { followRedirects: true, ca: cert.cert }))
    expect(err).toMatchObject({ code: 'ERR_DOWNLOAD_REDIRECT', message: expect.stringMatching(/from https to http/) })
  })

  it('Basic auth from the URL userinfo (percent-decoded); wrong credentials are a 401 whose message hides them', async () => {
    const url = server.url('/small.img', { auth: 'alice:p@ss word' }).replace('://', '://alice:p%40ss%20word@')
    const result = await fetchToSink(url, memorySink())
    expect(result.bytes).toBe(1000)
    expect(result.url).not.toContain('p%40ss')
    const wrong = url.replace('alice:', 'mallory:')
    const err = await failure(fetchToSink(wrong, memorySink()))
    expect(err).toMatchObject({ code: 'ERR_DOWNLOAD_HTTP', status: 401 })
    expect(err.message).not.toMatch(/p%40ss|p@ss/)
    expect(err.message).toContain('***')
  })

  it('credentials do not follow a redirect to another origin', async () => {
    tlsServer.setBehaviour('/secret.img', { auth: 'bob:pw' })
    server.setBehaviour('/elsewhere.img', { auth: 'bob:pw', redirect: `${tlsServer.origin}/secret.img` })
    const url = server.url('/elsewhere.img').replace('://', '://bob:pw@')
    const err = await failure(fetchToSink(url, memorySink(), { followRedirects: true, ca: cert.cert }))
    expect(err).toMatchObject({ code: 'ERR_DOWNLOAD_HTTP', status: 401 })
    expect(tlsServer.hits('/secret.img').at(-1)?.authorization).toBeUndefined()
  })

  it('an http target through the proxy: absolute URL, Proxy-Authorization from the proxy URL, resumes through it', async () => {
    const sink = memorySink()
    const proxyUrl = proxy.url.replace('://', '://proxyuser:proxy%20secret@')
    const url = server.url('/image.img', { drop: 600_000, times: 1 })
    const result = await fetchToSink(url, sink, { ...QUICK, proxy: proxyUrl })
    expect(sha256(sink.bytes())).toBe(sha256(image))
    expect(result.resumes).toBe(1)
    const seen = proxy.requests.filter((r) => r.target === url)
    expect(seen).toHaveLength(2)
    expect(seen[0]?.proxyAuthorization).toBe(`Basic ${Buffer.from('proxyuser:proxy secret').toString('base64')}`)
  })

  it('an https target through the proxy uses CONNECT', async () => {
    const sink = memorySink()
    const proxyUrl = proxy.url.replace('://', '://proxyuser:proxy%20secret@')
    await fetchToSink(tlsServer.url('/image.img'), sink, { proxy: proxyUrl, ca: cert.cert })
    expect(sha256(sink.bytes())).toBe(sha256(image))
    expect(proxy.requests.at(-1)).toMatchObject({ method: 'CONNECT', target: `127.0.0.1:${tlsServer.port}`, status: 200 })
  })

  it('the proxy refusing the credentials is a 407 (http and CONNECT), its password in no message', async () => {
    const proxyUrl = proxy.url.replace('://', '://proxyuser:wrong-secret@')
    for (const url of [server.url('/small.img'), tlsServer.url('/small.img')]) {
      const err = await failure(fetchToSink(url, memorySink(), { proxy: proxyUrl, ca: cert.cert }))
      expect(err).toMatchObject({ code: 'ERR_DOWNLOAD_HTTP', status: 407 })
      expect(err.message).not.toContain('wrong-secret')
    }
  })

  it('cancel mid-body: ERR_DOWNLOAD_CANCELLED, and nothing written after it', async () => {
    const controller = new AbortController()
    const sink = memorySink()
    const pending = fetchToSink(server.url('/image.img', { rate: 2_000_000 }), sink, {
      signal: controller.signal, progressIntervalMs: 0,
      onProgress: (p) => { if (p.bytes >= 100_000) controller.abort() },
    })
    const err = await failure(pending)
    expect(errorCode(err)).toBe('ERR_DOWNLOAD_CANCELLED')
    const held = sink.bytes().length
    expect(held).toBeGreaterThanOrEqual(100_000)
    expect(held).toBeLessThan(SIZE)
  })

  it('cancel while waiting to retry, and a signal already aborted, are ERR_DOWNLOAD_CANCELLED too', async () => {
    const controller = new AbortController()
    const url = server.url('/busy.img', { status: 503 })
    const pending = fetchToSink(url, memorySink(), { signal: controller.signal, retryDelayMs: 60_000 })
    // Once the 503 is answered the fetcher waits a minute to retry: cancel it there.
    while (!server.requests.some((r) => r.url === url.slice(server.origin.length) && r.status === 503)) await new Promise((resolve) => setTimeout(resolve, 5))
    await new Promise((resolve) => setTimeout(resolve, 20))
    controller.abort()
    expect(errorCode(await failure(pending))).toBe('ERR_DOWNLOAD_CANCELLED')
    expect(errorCode(await failure(fetchToSink(server.url('/small.img'), memorySink(), { signal: AbortSignal.abort() })))).toBe('ERR_DOWNLOAD_CANCELLED')
  })

  it('the sink sees one write at a time, however fast the server: memory stays a few chunks', async () => {
    const sink = memorySink(Buffer.alloc(0), { slowMs: 1 })
    await fetchToSink(server.url('/image.img'), sink)
    expect(sink.maxInFlight).toBe(1)
    expect(sha256(sink.bytes())).toBe(sha256(image))
  })

  it('an error of the sink is the fetch error, unchanged and not retried', async () => {
    const sink = memorySink()
    sink.write = async () => { throw Object.assign(new Error('disk full'), { code: 'ENOSPC' }) }
    const err = await failure(fetchToSink(server.url('/small.img', { times: 0 }), sink, QUICK))
    expect(err).toMatchObject({ code: 'ENOSPC', message: 'disk full' })
    expect(server.requests.filter((r) => r.url === '/small.img?times=0').length).toBe(1)
  })

  it('URLs it will not fetch: ERR_DOWNLOAD_URL before any request, credentials masked', async () => {
    for (const url of ['ftp://u:secret@host/x.img', 'file:///etc/passwd', 'not a url', 'nfs://10.0.0.1/export/x.img']) {
      const err = await failure(fetchToSink(url, memorySink()))
      expect(errorCode(err), url).toBe('ERR_DOWNLOAD_URL')
      expect(err.message).not.toContain('secret')
    }
    const err = await failure(fetchToSink(server.url('/small.img'), memorySink(), { proxy: 'https://u:secret@proxy:3128' }))
    expect(errorCode(err)).toBe('ERR_DOWNLOAD_URL')
    expect(err.message).not.toContain('secret')
  })
})

import { request, type ClientRequest } from 'node:http'
import { connect as netConnect, isIP, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { ApplianceError } from '../../core/errors.ts'
import {
  DownloadCancelledError, DownloadNetworkError, DownloadResumeError, DownloadTimeoutError, DownloadTlsError,
  DownloadTooLargeError, isRetryable, type TimeoutPhase,
} from './errors.ts'
import { Http1Error, ResponseDecoder, type ResponseEvent, type ResponseHead } from './http1.ts'
import { planResponse } from './response.ts'
import { authority, parseDownloadUrl, parseProxyUrl, planRedirect, redactUrl, urlPort, type DownloadTarget, type ProxyTarget } from './url.ts'

/**
 * The HTTP(S) fetcher of storaged's download jobs: one URL into a caller's sink, from the
 * sink's offset on, over HTTP/1.1 (http1.ts) on sockets it opens itself (direct, through an HTTP proxy
 * with the absolute URL, or through a CONNECT tunnel for https). No agent and no keep-alive: a
 * download is one long request per connection, and a fresh socket per attempt leaves nothing
 * half-read behind a retry.
 *
 *   attempt ─ connect (connectTimeoutMs) ─ headers (idleTimeoutMs) ─ body chunks (idleTimeoutMs
 *     │         each, paused while the sink writes) ─ done
 *     ├─ 3xx            → next URL if allowed (url.ts planRedirect), same attempt budget
 *     ├─ 200 at pos > 0 → sink.truncate(), the bytes held are counted as wasted
 *     ├─ 206/416        → response.ts planResponse (append, complete, or restart from 0)
 *     └─ retryable failure (network, timeout, 408/429/5xx) → backoff, Range: bytes=<pos>- with
 *        If-Range (a strong ETag, else Last-Modified); `retries` failures in a row without a
 *        byte of progress → ERR_DOWNLOAD_RESUME
 *
 * Memory is bounded whatever the server does: one read buffer per connection, one chunk in the
 * sink at a time, the socket paused while a write() is pending, so TCP holds the rest (the idle
 * timer does not run during a write: a slow disk is not a silent server). Responses are decoded
 * by http1.ts, not node:http (see there why).
 *
 * Limits of HTTP/1.1 itself: a response with neither Content-Length nor chunked encoding ends
 * when the connection closes, so a drop there looks like the end (the job's checksum is what
 * catches it); bytes node had buffered when a connection broke are fetched again by the resume.
 */

/** Where the bytes go: a temp file (the job's), hashed as it grows. */
export interface DownloadSink {
  /**
   * Bytes the sink already holds when the fetch starts (a temp file reopened at its length after
   * a restart): the fetch asks for the rest. Read once, at the start.
   */
  readonly offset: number
  /** Drops everything held: the server is sending the resource from its first byte again. */
  truncate(): Promise<void>
  /**
   * Appends a chunk: a view of the reader's buffer, used (or copied) before this returns, or
   * before the promise it returns settles. A promise means: wait; the next chunk is not read
   * from the network until it resolves.
   */
  write(chunk: Buffer): void | Promise<void>
}

/** What identifies the version of the resource the sink holds bytes of (for If-Range). */
export interface Validator {
  /** A strong ETag (a weak one, W/…, cannot be used in If-Range and is not kept). */
  etag?: string | undefined
  lastModified?: string | undefined
}

export interface DownloadProgress {
  /** Bytes the sink holds. */
  bytes: number
  /** The resource's length, when the server said it. */
  total: number | undefined
  /** Average over this call: bytes received (wasted ones included) per second since it started. */
  bytesPerSecond: number
  /** Bytes written then thrown away because the server started again from 0. */
  wastedBytes: number
  /** Requests made so far (redirects included). */
  requests: number
}

export interface FetchOptions {
  /** Follow redirects (at most MAX_REDIRECTS, never https → http); otherwise one is ERR_DOWNLOAD_REDIRECT. */
  followRedirects?: boolean
  /** `http://[user:pass@]host:port`; https targets go through CONNECT. */
  proxy?: string | undefined
  /** Largest resource accepted (default 50 GiB, CloudStack's maxDownloadSizeInBytes). */
  maxBytes?: number
  /** TCP connect to the server (or the proxy), default 30 s. */
  connectTimeoutMs?: number
  /** Silence allowed while waiting for the response headers or the next body bytes, default 60 s. */
  idleTimeoutMs?: number
  /** Failed attempts in a row without progress before giving up, default 5 (0: never retry). */
  retries?: number
  /** First backoff (default 1 s), doubled per failure in a row, capped by maxRetryDelayMs (30 s). */
  retryDelayMs?: number
  maxRetryDelayMs?: number
  /** The validator saved with a partial file (FetchResult/onValidator), for a fresh call at offset > 0. */
  validator?: Validator | undefined
  signal?: AbortSignal | undefined
  onProgress?: ((progress: DownloadProgress) => void) | undefined
  /** At most one progress report per this many ms (default 1000; 0: every chunk); a last one at the end. */
  progressIntervalMs?: number
  /**
   * Called before each retry with the failure (its message already redacted), the wait, and where
   * the next request starts: for the job's log, so a stalling source is visible (CloudStack #6647).
   */
  onRetry?: ((info: RetryInfo) => void) | undefined
  /** Called when the sink is truncated to start again from 0 (the job resets its hash; and logs why). */
  onRestart?: ((info: { reason: string; wastedBytes: number }) => void) | undefined
  /** Called whenever the validator of the bytes held changes: persist it next to a partial file. */
  onValidator?: ((validator: Validator) => void) | undefined
  /** Extra trusted CA certificates (PEM) for https, added to nothing: they replace the system list. */
  ca?: string | Buffer | undefined
  userAgent?: string
}

export interface RetryInfo {
  error: ApplianceError
  /** Failed attempts in a row without progress, this one included. */
  failuresInRow: number
  delayMs: number
  /** Bytes the sink holds; the next request asks for the rest. */
  position: number
}

export interface FetchResult {
  /** Bytes the sink holds: the whole resource. */
  bytes: number
  /** The length the server declared (undefined if it never did). */
  total: number | undefined
  wastedBytes: number
  /** Times the sink was truncated to start again from 0. */
  restarts: number
  /** Times a Range request continued where the sink was (206). */
  resumes: number
  /** Requests made (redirect hops and retries included). */
  requests: number
  /** The URL the bytes came from, after redirects, redacted. */
  url: string
  validator: Validator
  contentType: string | undefined
}

export const DEFAULT_MAX_BYTES = 50 * 1024 ** 3

const TLS_ERROR = /CERT|SELF_SIGNED|^ERR_TLS_|^ERR_SSL_|UNABLE_TO_|HOSTNAME|ALTNAME/

interface Settings {
  follow: boolean
  proxy: ProxyTarget | undefined
  maxBytes: number
  connectTimeoutMs: number
  idleTimeoutMs: number
  ca: string | Buffer | undefined
  userAgent: string
  signal: AbortSignal | undefined
}

/**
 * Fetches `url` into `sink` from `sink.offset` on, resuming across dropped connections. Resolves
 * when the sink holds the whole resource; rejects with an ERR_DOWNLOAD_* error (or the sink's own
 * error, unchanged). Credentials in the URL become Basic auth and appear in no message.
 */
export async function fetchToSink(url: string, sink: DownloadSink, options: FetchOptions = {}): Promise<FetchResult> {
  const settings: Settings = {
    follow: options.followRedirects ?? false,
    proxy: options.proxy === undefined ? undefined : parseProxyUrl(options.proxy),
    maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES,
    connectTimeoutMs: options.connectTimeoutMs ?? 30_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
    ca: options.ca,
    userAgent: options.userAgent ?? 'storaged',
    signal: options.signal,
  }
  let target = parseDownloadUrl(url)
  const retries = options.retries ?? 5
  const retryDelayMs = options.retryDelayMs ?? 1000
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000
  const progressIntervalMs = options.progressIntervalMs ?? 1000
  const started = performance.now()

  let position = sink.offset
  let validator: Validator = { ...options.validator }
  let total: number | undefined
  let contentType: string | undefined
  let wastedBytes = 0
  let received = 0
  let restarts = 0
  let resumes = 0
  let requests = 0
  let hops = 0
  let failuresInRow = 0
  let rangeBroken = false
  let lastReport = -Infinity

  const where = () => redactUrl(target.url)
  const cancelled = () => new DownloadCancelledError(where())
  if (aborted(settings.signal)) throw cancelled()
  if (position > settings.maxBytes) {
    throw new DownloadTooLargeError(settings.maxBytes, `${where()}: ${position} bytes held already, more than the maximum of ${settings.maxBytes}`)
  }

  const report = (force: boolean) => {
    if (options.onProgress === undefined) return
    const now = performance.now()
    if (!force && now - lastReport < progressIntervalMs) return
    lastReport = now
    const seconds = (now - started) / 1000
    options.onProgress({ bytes: position, total, bytesPerSecond: seconds > 0 ? received / seconds : 0, wastedBytes, requests })
  }
  const setValidator = (next: Validator) => {
    if (next.etag === validator.etag && next.lastModified === validator.lastModified) return
    validator = next
    options.onValidator?.(validator)
  }
  const restart = async (reason: string) => {
    await sink.truncate()
    options.onRestart?.({ reason, wastedBytes: position })
    wastedBytes += position
    position = 0
    restarts += 1
  }

  for (;;) {
    if (aborted(settings.signal)) throw cancelled()
    requests += 1
    const conn = new Connection(where(), settings)
    let progressed = false
    try {
      const ranged = position > 0 && !rangeBroken
      const res = await conn.open(target, requestHeaders(target, settings, ranged ? position : 0, ranged ? validator : {}))
      const plan = planResponse({
        status: res.status,
        statusMessage: res.statusMessage,
        contentLength: res.headers['content-length'],
        contentRange: res.headers['content-range'],
        location: res.headers['location'],
      }, { position: ranged ? position : 0, maxBytes: settings.maxBytes, where: where() })

      if (plan.kind === 'redirect') {
        target = planRedirect(target, plan.status, plan.location, { follow: settings.follow, hops })
        hops += 1
        continue
      }
      hops = 0
      if (plan.kind === 'complete') {
        total = plan.total
        break
      }
      if (plan.kind === 'restart') {
        rangeBroken ||= plan.rangesBroken
        await restart(plan.reason)
        continue
      }
      if (plan.restart) await restart('the server sent the whole resource (Range ignored, or If-Range saw another version)')
      // Ranges found broken earlier in this call: the sink's bytes are requested again with the rest.
      else if (position > 0 && !ranged) await restart('the server\'s ranges cannot be used')
      else if (ranged) resumes += 1
      total = plan.total
      contentType = res.headers['content-type']
      const etag = res.headers['etag']
      const lastModified = res.headers['last-modified']
      const strongEtag = etag !== undefined && !etag.startsWith('W/') ? etag : undefined
      if (plan.start === 0 || strongEtag !== undefined || lastModified !== undefined) {
        setValidator({ etag: strongEtag, lastModified })
      }

      await conn.receiveBody((chunk) => {
        if (position + chunk.length > settings.maxBytes) {
          throw new DownloadTooLargeError(settings.maxBytes, `${where()}: more than the maximum of ${settings.maxBytes} bytes`)
        }
        const written = sink.write(chunk)
        position += chunk.length
        received += chunk.length
        progressed = true
        report(false)
        return written
      })
      if (total !== undefined && position < total) {
        throw new DownloadNetworkError(`${where()}: the response ended at byte ${position} of ${total}`)
      }
      total ??= position
      break
    } catch (err) {
      const failure = conn.failure ?? err
      if (aborted(settings.signal)) throw cancelled()
      if (!isRetryable(failure)) throw failure
      failuresInRow = progressed ? 1 : failuresInRow + 1
      if (failuresInRow > retries) throw retries === 0 ? failure : new DownloadResumeError(failuresInRow, failure as ApplianceError)
      conn.close()
      const delayMs = Math.min(retryDelayMs * 2 ** (failuresInRow - 1), maxRetryDelayMs)
      options.onRetry?.({ error: failure as ApplianceError, failuresInRow, delayMs, position })
      await sleep(delayMs, settings.signal, cancelled)
    } finally {
      conn.close()
    }
  }
  report(true)
  return { bytes: position, total, wastedBytes, restarts, resumes, requests, url: where(), validator, contentType }
}

/** Not inlined: TypeScript would narrow `signal.aborted` to false after the first check. */
function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

function requestHeaders(target: DownloadTarget, settings: Settings, from: number, validator: Validator): Record<string, string> {
  const headers: Record<string, string> = {
    'host': target.url.host,
    'user-agent': settings.userAgent,
    'accept': '*/*',
    // Byte ranges of an encoded body would be ranges of the encoding: ask for the bytes as stored.
    'accept-encoding': 'identity',
    'connection': 'close',
  }
  if (target.authorization !== undefined) headers['authorization'] = target.authorization
  if (settings.proxy?.authorization !== undefined && target.url.protocol === 'http:') headers['proxy-authorization'] = settings.proxy.authorization
  if (from > 0) {
    headers['range'] = `bytes=${from}-`
    // Without a validator the Range goes alone (curl and wget do the same): a file replaced
    // since would be spliced, which the job's checksum catches.
    const ifRange = validator.etag ?? validator.lastModified
    if (ifRange !== undefined) headers['if-range'] = ifRange
  }
  return headers
}

function sleep(ms: number, signal: AbortSignal | undefined, cancelled: () => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) return reject(cancelled())
    const onAbort = () => {
      clearTimeout(timer)
      reject(cancelled())
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

function describeSocketError(err: Error & { code?: string }): string {
  return err.code !== undefined && !err.message.includes(err.code) ? `${err.message} (${err.code})` : err.message
}

/** Bytes one plain socket reads into, reused for every read (net's `onread`); 256 KiB measured best. */
const READ_BUFFER = 256 * 1024

/** What the body's consumer answers: a promise when it must finish before the next chunk. */
type ChunkConsumer = (chunk: Buffer) => void | Promise<void>

/**
 * One attempt's sockets, the response decoded off the last one, and the one timer that watches
 * them. Whatever goes wrong first (a timeout, the caller's abort, a socket error, a malformed
 * response) is kept in `failure` and tears everything down, so the awaiting code sees that reason
 * and not the echoes of the teardown.
 *
 * Plain HTTP is read with `onread` into one buffer per connection, decoded in place by
 * http1.ts and handed to the consumer as views of it: the socket is paused whenever a chunk is
 * not consumed at once (no consumer yet, or the sink writing), so a view is never overwritten
 * before it is used. TLS sockets deliver their own buffers through 'data', on the same path.
 */
class Connection {
  failure: (ApplianceError & { retryable?: boolean }) | undefined
  private timer: NodeJS.Timeout | undefined
  private readonly sockets: Socket[] = []
  private req: ClientRequest | undefined
  private socket: Socket | undefined
  private readonly decoder = new ResponseDecoder()
  /** Decoded events not handled yet: their body views are valid while the socket is paused. */
  private queue: ResponseEvent[] = []
  /** The peer closed its side (FIN). */
  private ended = false
  /** The body's last byte was handed on. */
  private bodyEnded = false
  /** A consumer's write is in progress. */
  private busy = false
  private consumer: ChunkConsumer | undefined
  private onHead: ((head: ResponseHead) => void) | undefined
  private onEnd: (() => void) | undefined
  private onFailure: ((err: Error) => void) | undefined
  private readonly onAbort = () => this.fail(new DownloadCancelledError(this.where))

  constructor(private readonly where: string, private readonly settings: Settings) {
    settings.signal?.addEventListener('abort', this.onAbort, { once: true })
  }

  /** Connects, sends the request and resolves with the response head. */
  async open(target: DownloadTarget, headers: Record<string, string>): Promise<ResponseHead> {
    const { proxy } = this.settings
    const https = target.url.protocol === 'https:'
    const hostname = target.url.hostname.replace(/^\[(.*)\]$/, '$1')
    const first = proxy === undefined ? { host: hostname, port: urlPort(target.url) } : { host: proxy.host, port: proxy.port }
    let socket = await this.connect(first.host, first.port, !https)
    this.arm('headers', this.settings.idleTimeoutMs)
    if (proxy !== undefined && https) socket = await this.tunnel(socket, proxy, target.url)
    if (https) {
      socket = await this.startTls(socket, hostname)
      socket.on('data', (bytes: Buffer) => {
        if (!this.take(bytes)) socket.pause()
      })
    }
    const path = proxy !== undefined && !https ? target.url.href : `${target.url.pathname}${target.url.search}`
    return this.send(socket, path, headers)
  }

  /**
   * Hands the body to `consume` chunk by chunk (views, valid until the promise it returns settles,
   * or until it returns) and resolves at the body's end; the idle timer runs only while waiting
   * for the network.
   */
  receiveBody(consume: ChunkConsumer): Promise<void> {
    return this.until((resolve, reject) => {
      this.onFailure = reject
      if (this.bodyEnded) return resolve()
      this.consumer = consume
      this.onEnd = resolve
      this.arm('body', this.settings.idleTimeoutMs)
      if (this.pump()) this.socket?.resume()
    })
  }

  close(): void {
    this.disarm()
    this.settings.signal?.removeEventListener('abort', this.onAbort)
    this.req?.destroy()
    for (const s of this.sockets) s.destroy()
  }

  private fail(err: ApplianceError): void {
    this.failure ??= err
    this.disarm()
    this.req?.destroy(this.failure)
    for (const s of this.sockets) s.destroy(this.failure)
    this.onFailure?.(this.failure)
  }

  private arm(phase: TimeoutPhase, ms: number): void {
    this.disarm()
    this.timer = setTimeout(() => this.fail(new DownloadTimeoutError(phase, ms, this.where)), ms)
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  /** Settles with `value` once `wait` says so, or with the attempt's failure. */
  private until<T>(wait: (resolve: (value: T) => void, reject: (err: Error) => void) => void): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    // A failure from the timer or the signal tears the sockets down; their 'error' or 'close'
    // reaches `wait`'s handlers, which reject with the failure kept.
    return new Promise<T>((resolve, reject) => wait(resolve, (err) => reject(this.failure ?? err)))
  }

  /** Bytes off the socket; false when it must pause until the queue is handled. */
  private take(bytes: Buffer): boolean {
    if (this.failure !== undefined) return false
    // Silence is timed between reads of the body: every read starts the same timer again.
    if (this.consumer !== undefined) this.timer?.refresh()
    try {
      this.queue.push(...this.decoder.feed(bytes))
    } catch (err) {
      this.fail(this.malformed(err))
      return false
    }
    return this.pump()
  }

  /**
   * Handles the queued events in order while each can be handled at once: true when the socket
   * may read on, false while something waits (no consumer yet, the sink writing, the body over).
   */
  private pump(): boolean {
    for (;;) {
      if (this.busy || this.bodyEnded || this.failure !== undefined) return false
      const event = this.queue[0]
      if (event === undefined) {
        if (!this.ended) return true
        // The connection ended: that ends a close-delimited body and cuts any other short.
        try {
          this.queue = this.decoder.finishAtClose()
        } catch (err) {
          this.fail(this.malformed(err))
          return false
        }
        continue
      }
      if (event.kind === 'head') {
        this.queue.shift()
        this.disarm()
        const onHead = this.onHead
        this.onHead = undefined
        onHead?.(event.head)
        continue
      }
      if (event.kind === 'end') {
        this.queue.shift()
        this.bodyEnded = true
        this.disarm()
        this.onEnd?.()
        return false
      }
      // Body bytes read with the head wait for the consumer (their buffer is the next read's).
      if (this.consumer === undefined) return false
      this.queue.shift()
      let written: void | Promise<void>
      try {
        written = this.consumer(event.data)
      } catch (err) {
        this.fail(err as ApplianceError)
        return false
      }
      if (written !== undefined) {
        // A slow disk is not a silent server: no idle timer while the sink writes.
        this.busy = true
        this.disarm()
        written.then(() => {
          this.busy = false
          if (this.failure !== undefined || this.bodyEnded) return
          this.arm('body', this.settings.idleTimeoutMs)
          if (this.pump()) this.socket?.resume()
        }, (err: unknown) => this.fail(err as ApplianceError))
        return false
      }
    }
  }

  private malformed(err: unknown): ApplianceError {
    const message = err instanceof Http1Error ? err.message : String(err)
    return new DownloadNetworkError(`${this.where}: a malformed response: ${message}`, { cause: err })
  }

  /** A TCP connection; `decode` reads it into a reused buffer straight into the decoder. */
  private connect(host: string, port: number, decode: boolean): Promise<Socket> {
    this.arm('connect', this.settings.connectTimeoutMs)
    return this.until((resolve, reject) => {
      const socket = netConnect({
        host, port,
        ...(decode ? { onread: { buffer: Buffer.allocUnsafe(READ_BUFFER), callback: (n: number, buf: Buffer) => this.take(buf.subarray(0, n)) } } : {}),
      })
      this.sockets.push(socket)
      socket.once('connect', () => {
        this.disarm()
        resolve(socket)
      })
      // 'on', not 'once': a second error after the first would otherwise be uncaught.
      socket.on('error', (err) => reject(new DownloadNetworkError(`${this.where}: cannot connect to ${host}:${port}: ${describeSocketError(err)}`, { cause: err })))
      socket.once('close', () => reject(new DownloadNetworkError(`${this.where}: the connection to ${host}:${port} closed`)))
    })
  }

  private tunnel(socket: Socket, proxy: ProxyTarget, url: URL): Promise<Socket> {
    return this.until((resolve, reject) => {
      const headers: Record<string, string> = { host: authority(url) }
      if (proxy.authorization !== undefined) headers['proxy-authorization'] = proxy.authorization
      const req = request({ method: 'CONNECT', path: authority(url), headers, setHost: false, createConnection: () => socket })
      this.req = req
      req.once('connect', (res, tunnel, head) => {
        if (res.statusCode !== 200) {
          const status = res.statusCode ?? 0
          tunnel.destroy()
          return reject(planTunnelError(status, proxy, this.where))
        }
        if (head.length > 0) tunnel.unshift(head)
        resolve(tunnel)
      })
      req.on('error', (err) => reject(new DownloadNetworkError(`${this.where}: proxy ${proxy.name}: ${describeSocketError(err)}`, { cause: err })))
      req.end()
    })
  }

  private startTls(socket: Socket, hostname: string): Promise<Socket> {
    return this.until((resolve, reject) => {
      // SNI carries host names only (RFC 6066 §3).
      const tls = tlsConnect({ socket, ...(isIP(hostname) !== 0 ? {} : { servername: hostname }), ...(this.settings.ca === undefined ? {} : { ca: this.settings.ca }) })
      this.sockets.push(tls)
      tls.once('secureConnect', () => resolve(tls))
      tls.on('error', (err: Error & { code?: string }) => {
        reject(TLS_ERROR.test(err.code ?? '')
          ? new DownloadTlsError(`${this.where}: ${describeSocketError(err)}`, { cause: err })
          : new DownloadNetworkError(`${this.where}: TLS: ${describeSocketError(err)}`, { cause: err }))
      })
    })
  }

  /** Writes the request and resolves with the response head; the socket's end and errors are watched from here on. */
  private send(socket: Socket, path: string, headers: Record<string, string>): Promise<ResponseHead> {
    return this.until((resolve, reject) => {
      this.socket = socket
      this.onHead = resolve
      this.onFailure = reject
      const broke = (err?: Error) => this.fail(this.decoder.done
        ? new DownloadNetworkError(`${this.where}: the connection closed`)
        : new DownloadNetworkError(`${this.where}: the connection broke off${err === undefined ? '' : `: ${describeSocketError(err)}`}`, { cause: err }))
      socket.on('error', (err) => broke(err))
      socket.once('end', () => {
        this.ended = true
        if (this.pump()) socket.resume()
      })
      socket.once('close', () => {
        if (!this.ended && !this.decoder.done) broke()
      })
      socket.write(requestText(path, headers))
    })
  }
}

/** The request's bytes; a value with a line break (an ETag sent back in If-Range) is refused. */
function requestText(path: string, headers: Record<string, string>): string {
  const lines = [`GET ${path} HTTP/1.1`]
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n\0]/.test(value)) throw new DownloadNetworkError(`header ${name} has a line break or NUL in its value`)
    lines.push(`${name}: ${value}`)
  }
  return `${lines.join('\r\n')}\r\n\r\n`
}

function planTunnelError(status: number, proxy: ProxyTarget, where: string): ApplianceError {
  try {
    planResponse({ status }, { position: 0, maxBytes: Infinity, where: `${where} via proxy ${proxy.name}` })
  } catch (err) {
    return err as ApplianceError
  }
  return new DownloadNetworkError(`${where}: proxy ${proxy.name} answered CONNECT with ${status}`)
}

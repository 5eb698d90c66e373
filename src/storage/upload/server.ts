import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { FileHandle } from 'node:fs/promises'
import type { AddressInfo, Socket } from 'node:net'
import { join } from 'node:path'
import { pipeline } from 'node:stream'
import { ApplianceError, errorCode } from '../../core/errors.ts'
import type { Logger } from '../../core/log.ts'
import type { Metrics } from '../../core/metrics.ts'
import { checkFileName, checkUuid } from '../layout/identifiers.ts'
import { openInStore } from '../layout/safe-path.ts'
import { BodyReader } from './body-reader.ts'
import { UploadError } from './errors.ts'
import { ExtractRegistry, type ExtractEntry } from './extract-registry.ts'
import { decodeGrant, type UploadGrant } from './grant.ts'
import { MultipartParser, parseBoundary, type MultipartEvent } from './multipart.ts'
import { decideRange, fileEtag, noneMatch } from './range.ts'
import {
  normalizeBaseUrl, parseExpires, signedExtractQuery, signedUrlCandidates, verifyExtractSignature, verifyUploadSignature,
  type SignedUrlSettings,
} from './signature.ts'
import type { UploadInfo, UploadSink, UploadWriter } from './sink.ts'
import { signatureKey, UsedGrantStore } from './used-grants.ts'

/**
 * storaged's public listener, beside the token-protected control API: browser and API uploads
 * (`POST /upload/<uuid>`, CloudStack's getUploadParamsFor* flow) and extract downloads
 * (`GET|HEAD /userdata/<name>`, CloudStack's extract URLs). Plain node:http(s), not fastify:
 * an upload is a stream that must be authorised before its body is read (100-continue), parsed
 * as it arrives, metered and handed to the sink chunk by chunk, and answered on a socket whose
 * body may still be arriving; fastify's body parsing, body limits and automatic HEAD routes are
 * in the way of each of these (routerd's guest-facing metadata listener is plain node:http for
 * the same reasons).
 *
 * Memory stays bounded whatever a client does:
 * - headers: node's 16 KiB cap, complete within `headersTimeoutMs` (slow-loris), else 408;
 * - a socket silent for `idleTimeoutMs` (a trickling body, a reader that never reads its
 *   extract, so our writes stall) is closed; an upload averaging below `minBytesPerSecond`
 *   after `slowGraceMs` of waiting for the client is refused (ERR_UPLOAD_TIMEOUT);
 * - at most `maxConcurrentUploads` uploads run (ERR_UPLOAD_BUSY, 503, beyond) and
 *   `maxConnections` sockets are open, `maxConnectionsPerClient` from one address (a client
 *   holding sockets cannot starve the others);
 * - upload bodies are read one chunk at a time, only after the sink took the previous one;
 *   extracts are streamed from the file with backpressure (pipeline), never buffered.
 *
 * A refusal is answered as `{ error: { code, message } }` with the status in errors.ts. If the
 * body is still arriving, the listener then drains at most `lingerBytes` for `lingerMs` before
 * closing, so the client reads the answer instead of a connection reset.
 */

export interface UploadListenerOptions {
  log: Logger
  metrics: Metrics
  sink: UploadSink
  /** Holds used-grants.jsonl and extracts.json (created 0700). */
  stateDir: string
  /** Address to bind (default 0.0.0.0) and port (default 0: any; see address()). */
  host?: string
  port?: number
  /** Serve HTTPS with this certificate and key (PEM). setTls() swaps them while running. */
  tls?: TlsMaterial | undefined
  /** Origins allowed to call from a browser: '*' (default, as CloudStack's Apache) or a list. */
  corsOrigins?: '*' | readonly string[]
  /** Uploads at once (default 4); more are refused with 503. */
  maxConcurrentUploads?: number
  /** Largest file whatever the grant says (default 1 TiB). */
  maxUploadBytes?: number
  /** Open sockets (default 256); more are closed at accept. */
  maxConnections?: number
  /** Open sockets from one client address (default 16); more are closed at accept, so one client cannot take every socket. */
  maxConnectionsPerClient?: number
  /** Time for a request's headers (default 10 s). */
  headersTimeoutMs?: number
  /** A socket with no traffic this long is closed (default 60 s). */
  idleTimeoutMs?: number
  /** Slowest average upload rate accepted, bytes/s (default 1024), once the client was waited on `slowGraceMs` (default 30 s). */
  minBytesPerSecond?: number
  slowGraceMs?: number
  /** Unexpired used grants remembered at most (default 100,000). */
  maxUsedGrants?: number
  /** Latest expiry accepted, from now (default 7 days): a longer-lived grant is refused. */
  maxGrantLifetimeMs?: number
  /** After a refusal, body bytes drained at most (default 4 MiB) and for how long (default 5 s). */
  lingerBytes?: number
  lingerMs?: number
  /**
   * Reads X-metadata into a grant (default decodeGrant: storaged's base64url JSON grant). A
   * CloudStack adapter passes one that decrypts TemplateOrVolumePostUploadCommand instead.
   * Called only after the signature matched; throws ERR_UPLOAD_GRANT (or any 4xx UploadError).
   */
  grantDecoder?: (metadata: string) => UploadGrant
  /** The clock (ms since the epoch); tests pass their own. */
  now?: () => number
}

export interface TlsMaterial { cert: Buffer | string; key: Buffer | string }

/** The grant settings that come with the key (setKey). */
export interface UploadKeySettings {
  /**
   * Public base URLs the management server puts in upload URLs (`https://10-1-1-5.example.com`,
   * `https://203.0.113.5`): the signature is checked against `<base>/upload/<uuid>`.
   */
  publicBaseUrls?: readonly string[]
  /**
   * Also accept CloudStack's request-derived URL, `http(s)://<X-Forwarded-Host|Host>/upload/<uuid>`
   * (default: only when no public base URL is configured).
   */
  acceptHostDerivedUrl?: boolean
}

interface Auth { signature: string; metadata: string; expires: string }

interface Accepted {
  grant: UploadGrant
  sigKey: string
  expiresAt: number
  signedUrl: string
  /** Largest file taken: the grant's maximum, capped by the listener's. */
  limit: number
}

interface Refusal { code: string; status: number; message: string; headers: Readonly<Record<string, string>> }

/** Room in a multipart body for part headers, boundaries and small fields besides the file. */
const MULTIPART_ALLOWANCE = 64 * 1024
const MAX_FIELD_BYTES = 64 * 1024
const SWEEP_MS = 60_000
const ALLOW_HEADERS = 'x-signature, x-metadata, x-expires, content-type, x-requested-with, origin, accept, authorization, client-security-token, range, if-range, if-none-match'
const EXPOSE_HEADERS = 'Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified, Content-Disposition, Retry-After'

export class UploadListener {
  readonly extracts: ExtractRegistry
  private readonly used: UsedGrantStore
  private readonly log: Logger
  private readonly metrics: Metrics
  private readonly now: () => number
  private key: string | null = null
  private urlSettings: SignedUrlSettings = { publicBaseUrls: [], acceptHostDerivedUrl: true }
  private server: Server | HttpsServer | undefined
  private tls: TlsMaterial | undefined
  private servingTls = false
  private active = 0
  private readonly inflight = new Set<string>()
  private readonly handling = new Set<Promise<void>>()
  private readonly timedOut = new WeakSet<Socket>()
  /** Open sockets per client address (at most maxConnections entries), and in all. */
  private readonly perClient = new Map<string, number>()
  private openSockets = 0
  private sweeper: NodeJS.Timeout | undefined
  private readonly decodeGrant: (metadata: string) => UploadGrant
  private readonly o: Required<Omit<UploadListenerOptions, 'tls' | 'log' | 'metrics' | 'sink' | 'now' | 'corsOrigins' | 'grantDecoder'>> & { corsOrigins: '*' | readonly string[] }

  constructor(private readonly opts: UploadListenerOptions) {
    this.log = opts.log.child({ component: 'upload' })
    this.metrics = opts.metrics
    this.now = opts.now ?? Date.now
    this.tls = opts.tls
    this.decodeGrant = opts.grantDecoder ?? decodeGrant
    this.o = {
      stateDir: opts.stateDir, host: opts.host ?? '0.0.0.0', port: opts.port ?? 0, corsOrigins: opts.corsOrigins ?? '*',
      maxConcurrentUploads: opts.maxConcurrentUploads ?? 4, maxUploadBytes: opts.maxUploadBytes ?? 2 ** 40,
      maxConnections: opts.maxConnections ?? 256, maxConnectionsPerClient: opts.maxConnectionsPerClient ?? 16, headersTimeoutMs: opts.headersTimeoutMs ?? 10_000,
      idleTimeoutMs: opts.idleTimeoutMs ?? 60_000, minBytesPerSecond: opts.minBytesPerSecond ?? 1024,
      slowGraceMs: opts.slowGraceMs ?? 30_000, maxUsedGrants: opts.maxUsedGrants ?? 100_000,
      maxGrantLifetimeMs: opts.maxGrantLifetimeMs ?? 7 * 86_400_000, lingerBytes: opts.lingerBytes ?? 4 * 1024 * 1024,
      lingerMs: opts.lingerMs ?? 5000,
    }
    this.extracts = new ExtractRegistry({ stateDir: opts.stateDir, now: this.now })
    this.used = new UsedGrantStore(join(opts.stateDir, 'used-grants.jsonl'), { maxEntries: this.o.maxUsedGrants, now: this.now })
    for (const [name, help] of [
      ['upload_completed_total', 'Uploads received whole and accepted by the sink'],
      ['upload_bytes_total', 'File bytes handed to the upload sink'],
      ['upload_extract_bytes_total', 'Extract bytes sent'],
      ['upload_connections_refused_total', 'Connections closed at accept: their client already held maxConnectionsPerClient'],
    ] as const) this.metrics.inc(name, help, {}, 0)
    this.metrics.set('upload_active', 'Uploads in progress', 0)
    this.metrics.collect(() => {
      this.metrics.set('upload_used_grants', 'Used upload grants remembered (single use)', this.used.size)
      this.metrics.set('upload_connections_open', 'Sockets open on the public listener', this.openSockets)
    })
  }

  /**
   * Sets the upload key (CloudStack's post-upload PSK) and the URLs signatures are checked
   * against, or removes it (null): without a key every upload is refused (ERR_UPLOAD_DISABLED)
   * and no signed extract URL verifies. Throws ERR_BAD_REQUEST for an empty key or a bad base URL.
   */
  setKey(key: string | null, settings: UploadKeySettings = {}): void {
    if (key !== null && (typeof key !== 'string' || key === '')) throw new ApplianceError('ERR_BAD_REQUEST', 'the upload key must be a non-empty string')
    let bases: string[]
    try {
      bases = (settings.publicBaseUrls ?? []).map(normalizeBaseUrl)
    } catch (err) {
      throw new ApplianceError('ERR_BAD_REQUEST', (err as Error).message)
    }
    this.key = key
    this.urlSettings = { publicBaseUrls: bases, acceptHostDerivedUrl: settings.acceptHostDerivedUrl ?? bases.length === 0 }
    this.log.info({ enabled: key !== null, publicBaseUrls: bases, hostDerived: this.urlSettings.acceptHostDerivedUrl }, 'upload key set')
  }

  /**
   * Sets the certificate and key. On a running HTTPS listener they take effect for new
   * connections at once; otherwise (HTTP ↔ HTTPS) the listener must be restarted
   * (`restartRequired`), which the caller schedules when no upload is running.
   */
  setTls(tls: TlsMaterial | null): { restartRequired: boolean } {
    const running = this.server
    const wasHttps = this.servingTls
    this.tls = tls ?? undefined
    if (running === undefined) return { restartRequired: false }
    if (tls !== null && wasHttps) {
      (running as HttpsServer).setSecureContext({ cert: tls.cert, key: tls.key })
      return { restartRequired: false }
    }
    return { restartRequired: wasHttps !== (tls !== null) }
  }

  /** Uploads in progress. */
  get activeUploads(): number {
    return this.active
  }

  /** Where it listens (after start()). */
  address(): { host: string; port: number; tls: boolean } {
    const a = this.server?.address() as AddressInfo | null | undefined
    if (a === undefined || a === null) throw new ApplianceError('ERR_INTERNAL', 'the upload listener is not running')
    return { host: a.address, port: a.port, tls: this.servingTls }
  }

  /**
   * The path and query of a signed URL for an extract, valid until `expiresAtMs`
   * (`/userdata/<name>?expires=<s>&signature=<HMAC-SHA256>`). Throws when no key is set.
   */
  signExtractUrl(name: string, expiresAtMs: number): string {
    if (this.key === null) throw new ApplianceError('ERR_CONFLICT', 'no upload key is set to sign with')
    return `/userdata/${encodeURIComponent(name)}?${signedExtractQuery(this.key, name, expiresAtMs)}`
  }

  /** A new socket: closed at once when its client holds its share already, else counted until it closes. */
  private admit(socket: Socket): void {
    socket.on('error', () => socket.destroy())
    const client = socket.remoteAddress ?? ''
    const held = this.perClient.get(client) ?? 0
    if (held >= this.o.maxConnectionsPerClient) {
      this.metrics.inc('upload_connections_refused_total', '', {}, 1)
      socket.destroy()
      return
    }
    this.perClient.set(client, held + 1)
    this.openSockets++
    socket.once('close', () => {
      this.openSockets--
      const left = (this.perClient.get(client) ?? 1) - 1
      if (left <= 0) this.perClient.delete(client)
      else this.perClient.set(client, left)
    })
  }

  /**
   * Loads the persisted state and listens (HTTPS when a certificate is set). Rejects when the
   * address cannot be bound. stop() then start() restarts it (e.g. after setTls said so).
   */
  async start(): Promise<{ host: string; port: number; tls: boolean }> {
    if (this.server !== undefined) throw new ApplianceError('ERR_CONFLICT', 'the upload listener is already running')
    this.used.open()
    this.extracts.open()
    const options = {
      // A whole-request deadline would cut a large upload; headers have theirs, bodies the idle
      // timeout and the minimum rate.
      requestTimeout: 0, headersTimeout: this.o.headersTimeoutMs, keepAliveTimeout: 5000,
      connectionsCheckingInterval: Math.max(100, Math.min(1000, this.o.headersTimeoutMs / 4)),
    }
    const handler = (req: IncomingMessage, res: ServerResponse) => this.handle(req, res)
    const tls = this.tls
    const server = tls === undefined
      ? createHttpServer(options, handler)
      : createHttpsServer({ ...options, cert: tls.cert, key: tls.key, handshakeTimeout: this.o.headersTimeoutMs }, handler)
    // Answered by us: an upload is authorised before the client is told to send its body.
    server.on('checkContinue', handler)
    server.maxConnections = this.o.maxConnections
    server.timeout = this.o.idleTimeoutMs
    server.on('timeout', (socket: Socket) => {
      this.timedOut.add(socket)
      socket.destroy()
    })
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.clientError(err, socket))
    server.on('connection', (socket: Socket) => this.admit(socket))
    if (tls !== undefined) server.on('tlsClientError', (_err: Error, socket: Socket) => socket.destroy())
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.o.port, this.o.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    server.on('error', (err) => this.log.error({ err }, 'upload listener error'))
    this.server = server
    this.servingTls = tls !== undefined
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS)
    this.sweeper.unref()
    const where = this.address()
    this.log.info(where, 'upload listener started')
    return where
  }

  /** Closes the listener and every connection; running uploads are aborted (their sinks told). */
  async stop(): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    if (this.sweeper !== undefined) clearInterval(this.sweeper)
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeAllConnections()
    await Promise.allSettled([...this.handling])
    await closed
    this.used.close()
    this.log.info({}, 'upload listener stopped')
  }

  private sweep(): void {
    try {
      this.used.prune()
      this.extracts.sweepAndSave()
    } catch (err) {
      this.log.warn({ err }, 'cannot sweep expired upload state')
    }
  }

  private clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    this.metrics.inc('upload_client_errors_total', 'Requests that did not parse or time out before a handler ran', { code: err.code ?? 'unknown' })
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code?.startsWith('HPE_') ? 400 : 0
    if (status === 0 || !socket.writable) {
      socket.destroy()
      return
    }
    // Closed once written, not when the client closes its side: one that never reads or never
    // closes must not keep the socket (and its client's share) until the idle timeout.
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    socket.destroySoon()
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const task = this.route(req, res).catch((err: unknown) => this.log.error({ err }, 'upload listener handler failed'))
    this.handling.add(task)
    void task.finally(() => this.handling.delete(task))
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.cors(req, res)
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q < 0 ? url : url.slice(0, q)
    const kind = path === '/upload' || path.startsWith('/upload/') ? 'upload' : path.startsWith('/userdata/') ? 'extract' : undefined
    try {
      if (req.method === 'OPTIONS' && kind !== undefined) return this.preflight(req, res)
      const query = parseQuery(q < 0 ? '' : url.slice(q + 1))
      if (kind === 'upload') {
        if (req.method !== 'POST') throw new UploadError('ERR_UPLOAD_METHOD', `${req.method} is not allowed on ${path}`, { headers: { allow: 'POST, OPTIONS' } })
        return await this.upload(req, res, path, query)
      }
      if (kind === 'extract') {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new UploadError('ERR_UPLOAD_METHOD', `${req.method} is not allowed on extracts`, { headers: { allow: 'GET, HEAD, OPTIONS' } })
        return await this.serveExtract(req, res, path.slice('/userdata/'.length), query)
      }
      throw new UploadError('ERR_UPLOAD_NOT_FOUND', `no route ${req.method} ${path}`)
    } catch (err) {
      this.refuse(req, res, err, kind === 'extract' ? 'extract' : 'upload', path)
    }
  }

  // --- CORS ---

  private allowedOrigin(req: IncomingMessage): string | undefined {
    if (this.o.corsOrigins === '*') return '*'
    const origin = req.headers.origin
    return origin !== undefined && this.o.corsOrigins.includes(origin) ? origin : undefined
  }

  private cors(req: IncomingMessage, res: ServerResponse): void {
    const allowed = this.allowedOrigin(req)
    if (this.o.corsOrigins !== '*') res.setHeader('vary', 'Origin')
    if (allowed === undefined) return
    res.setHeader('access-control-allow-origin', allowed)
    res.setHeader('access-control-expose-headers', EXPOSE_HEADERS)
  }

  /** A browser's preflight: 204 with what it may send (no CORS headers for an origin not allowed). */
  private preflight(req: IncomingMessage, res: ServerResponse): void {
    if (this.allowedOrigin(req) !== undefined) {
      res.setHeader('access-control-allow-methods', 'POST, GET, HEAD, OPTIONS')
      res.setHeader('access-control-allow-headers', ALLOW_HEADERS)
      res.setHeader('access-control-max-age', '600')
    }
    res.writeHead(204, { 'content-length': '0' })
    res.end()
  }

  // --- uploads ---

  private async upload(req: IncomingMessage, res: ServerResponse, path: string, query: Map<string, string>): Promise<void> {
    const raw = path === '/upload' ? query.get('uuid') : decodeSegment(path.slice('/upload/'.length))
    let uuid: string
    try {
      uuid = checkUuid(raw, 'upload uuid')
    } catch {
      throw new UploadError('ERR_UPLOAD_NOT_FOUND', 'an upload URL is /upload/<uuid>')
    }
    if (this.key === null) throw new UploadError('ERR_UPLOAD_DISABLED', 'uploads are not enabled (no key is set)')
    if (this.active >= this.o.maxConcurrentUploads) {
      throw new UploadError('ERR_UPLOAD_BUSY', `${this.o.maxConcurrentUploads} uploads are running; retry later`, { headers: { 'retry-after': '10' } })
    }
    this.active++
    this.metrics.set('upload_active', 'Uploads in progress', this.active)
    try {
      await this.receive(req, res, uuid, query)
    } finally {
      this.active--
      this.metrics.set('upload_active', 'Uploads in progress', this.active)
    }
  }

  private async receive(req: IncomingMessage, res: ServerResponse, uuid: string, query: Map<string, string>): Promise<void> {
    const boundary = parseBoundary(req.headers['content-type'])
    const bodyBytes = contentLength(req)
    let accepted: Accepted | undefined
    const auth = authFrom((n) => header(req, `x-${n}`)) ?? authFrom((n) => query.get(n))
    if (auth !== undefined) accepted = this.authorize(auth, uuid, req, bodyBytes)
    if (/^\s*100-continue\s*$/i.test(header(req, 'expect') ?? '')) res.writeContinue()

    const parser = new MultipartParser(boundary)
    const reader = new BodyReader(req, () => this.timedOut.has(req.socket))
    const events: MultipartEvent[] = []
    const fields = new Map<string, string>()
    let part: { kind: 'field'; name: string; chunks: Buffer[] } | { kind: 'file' } | { kind: 'skip' } | undefined
    let writer: UploadWriter | undefined
    let finishing = false
    let fieldBytes = 0
    let fileBytes = 0
    let received = 0
    let waitedMs = 0
    try {
      for (;;) {
        const t0 = this.now()
        const chunk = await reader.next()
        waitedMs += this.now() - t0
        if (chunk === null) break
        received += chunk.length
        if (waitedMs > this.o.slowGraceMs && received * 1000 < waitedMs * this.o.minBytesPerSecond) {
          throw new UploadError('ERR_UPLOAD_TIMEOUT', `the body arrives slower than ${this.o.minBytesPerSecond} bytes/s`)
        }
        events.length = 0
        parser.push(chunk, events)
        for (const ev of events) {
          if (ev.kind === 'part') {
            if (ev.headers.fileName !== undefined) {
              if (writer !== undefined) throw new UploadError('ERR_UPLOAD_MALFORMED', 'more than one file part')
              if (accepted === undefined) {
                const fromFields = authFrom((n) => fields.get(n) ?? fields.get(`x-${n}`))
                if (fromFields === undefined) throw new UploadError('ERR_UPLOAD_SIGNATURE', 'X-signature, X-metadata and X-expires are required (as headers, query parameters or form fields before the file)')
                accepted = this.authorize(fromFields, uuid, req, bodyBytes)
              }
              writer = await this.begin(accepted, {
                fileName: ev.headers.fileName, contentType: ev.headers.contentType, bodyBytes, signedUrl: accepted.signedUrl,
                remoteAddress: req.socket.remoteAddress ?? '',
              })
              part = { kind: 'file' }
            } else {
              part = writer === undefined ? { kind: 'field', name: ev.headers.name, chunks: [] } : { kind: 'skip' }
            }
          } else if (ev.kind === 'data') {
            if (part?.kind === 'file' && writer !== undefined && accepted !== undefined) {
              fileBytes += ev.chunk.length
              if (fileBytes > accepted.limit) throw new UploadError('ERR_UPLOAD_TOO_LARGE', `the file is larger than ${accepted.limit} bytes`)
              const w = writer
              await this.sinkCall(() => w.write(ev.chunk))
              this.metrics.inc('upload_bytes_total', 'File bytes handed to the upload sink', {}, ev.chunk.length)
            } else {
              fieldBytes += ev.chunk.length
              if (fieldBytes > MAX_FIELD_BYTES) throw new UploadError('ERR_UPLOAD_MALFORMED', `form fields exceed ${MAX_FIELD_BYTES} bytes`)
              if (part?.kind === 'field') part.chunks.push(Buffer.from(ev.chunk))
            }
          } else if (ev.kind === 'partEnd') {
            if (part?.kind === 'field' && !fields.has(part.name)) fields.set(part.name, Buffer.concat(part.chunks).toString('utf8'))
            part = undefined
          }
        }
      }
      parser.end()
      if (writer === undefined || accepted === undefined) throw new UploadError('ERR_UPLOAD_NO_FILE', 'the body holds no file part')
      // The sink may take a while to install (checksum, format checks): the client is waiting, not idle.
      req.socket.setTimeout(0)
      finishing = true
      const w = writer
      const result = await this.sinkCall(() => w.finish())
      this.metrics.inc('upload_completed_total', 'Uploads received whole and accepted by the sink')
      this.log.info({ uuid, storeId: accepted.grant.storeId, kind: accepted.grant.kind, bytes: fileBytes }, 'upload completed')
      sendJson(res, 200, { uuid, bytes: fileBytes, result })
    } catch (err) {
      if (writer !== undefined && !finishing) {
        const reason = err instanceof ApplianceError ? err : new ApplianceError('ERR_INTERNAL', String(err), { cause: err })
        await writer.abort(reason).catch((e: unknown) => this.log.warn({ err: e, uuid }, 'upload sink abort failed'))
      }
      throw err
    } finally {
      reader.dispose()
    }
  }

  /** Checks signature, expiry, grant, uuid, replay and declared size; the grant is not yet used. */
  private authorize(auth: Auth, uuid: string, req: IncomingMessage, bodyBytes: number | undefined): Accepted {
    const key = this.key
    if (key === null) throw new UploadError('ERR_UPLOAD_DISABLED', 'uploads are not enabled (no key is set)')
    const candidates = signedUrlCandidates(uuid, this.urlSettings, { host: header(req, 'host'), forwardedHost: header(req, 'x-forwarded-host') })
    const signedUrl = verifyUploadSignature(key, auth.signature, auth.metadata, auth.expires, candidates)
    if (signedUrl === undefined) throw new UploadError('ERR_UPLOAD_SIGNATURE', 'the signature does not match this upload URL, metadata and expiry')
    const expiresAt = parseExpires(auth.expires)
    if (expiresAt === undefined) throw new UploadError('ERR_UPLOAD_GRANT', 'X-expires is not an ISO-8601 time with a zone (or Unix seconds)')
    const now = this.now()
    if (expiresAt <= now) throw new UploadError('ERR_UPLOAD_EXPIRED', `the upload URL expired at ${new Date(expiresAt).toISOString()}`)
    if (expiresAt > now + this.o.maxGrantLifetimeMs) throw new UploadError('ERR_UPLOAD_GRANT', `the expiry is more than ${this.o.maxGrantLifetimeMs} ms ahead`)
    const grant = this.decodeGrant(auth.metadata)
    if (grant.uuid !== uuid) throw new UploadError('ERR_UPLOAD_UUID', `the grant is for upload ${grant.uuid}, not ${uuid}`)
    const sigKey = signatureKey(auth.signature)
    this.checkUnused(grant.uuid, sigKey)
    const limit = Math.min(grant.maxBytes, this.o.maxUploadBytes)
    if (bodyBytes !== undefined && bodyBytes > limit + MULTIPART_ALLOWANCE) {
      throw new UploadError('ERR_UPLOAD_TOO_LARGE', `Content-Length ${bodyBytes} exceeds the ${limit} bytes allowed`)
    }
    return { grant, sigKey, expiresAt, signedUrl, limit }
  }

  private checkUnused(uuid: string, sigKey: string): void {
    if (this.used.has(uuid, sigKey) || this.inflight.has(uuid) || this.inflight.has(sigKey)) {
      throw new UploadError('ERR_UPLOAD_REPLAYED', `upload ${uuid} was already used`)
    }
  }

  /** Opens the sink for an accepted grant and records the grant as used before any byte is written. */
  private async begin(a: Accepted, info: UploadInfo): Promise<UploadWriter> {
    this.checkUnused(a.grant.uuid, a.sigKey)
    this.inflight.add(a.grant.uuid)
    this.inflight.add(a.sigKey)
    try {
      const writer = await this.sinkCall(() => this.opts.sink.begin(a.grant, info))
      try {
        this.used.add(a.grant.uuid, a.sigKey, a.expiresAt)
      } catch (err) {
        await writer.abort(err instanceof ApplianceError ? err : new ApplianceError('ERR_INTERNAL', String(err))).catch(() => {})
        throw err
      }
      this.log.info({ uuid: a.grant.uuid, storeId: a.grant.storeId, kind: a.grant.kind, entityId: a.grant.entityId, maxBytes: a.limit }, 'upload accepted')
      return writer
    } finally {
      this.inflight.delete(a.grant.uuid)
      this.inflight.delete(a.sigKey)
    }
  }

  /** Runs a sink call; a sink failure that is not a client error becomes ERR_UPLOAD_SINK. */
  private async sinkCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      const status = (err as { status?: unknown }).status
      if (typeof status === 'number' && status >= 400 && status < 500 && errorCode(err) !== undefined) throw err
      this.log.error({ err }, 'upload sink failed')
      throw new UploadError('ERR_UPLOAD_SINK', 'the upload could not be stored', { cause: err })
    }
  }

  // --- extracts ---

  private async serveExtract(req: IncomingMessage, res: ServerResponse, rawName: string, query: Map<string, string>): Promise<void> {
    const name = decodeExtractName(rawName)
    const entry = this.extracts.get(name)
    if (entry === undefined) throw new UploadError('ERR_EXTRACT_NOT_FOUND', `no extract ${JSON.stringify(name)}`)
    this.checkExtractSignature(entry, query)
    let handle: FileHandle
    try {
      handle = await openInStore(entry.storeRoot, entry.path)
    } catch (err) {
      const code = errorCode(err)
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new UploadError('ERR_EXTRACT_NOT_FOUND', `extract ${JSON.stringify(name)} is gone from its store`)
      if (code === 'ERR_PATH_OUTSIDE_STORE' || code === 'ERR_NOT_A_FILE' || code === 'ERR_PATH_NOT_DIRECTORY') {
        this.log.warn({ extract: name, err }, 'extract refused: it no longer resolves to a file inside its store')
        throw new UploadError('ERR_EXTRACT_OUTSIDE_STORE', `extract ${JSON.stringify(name)} cannot be served`, { cause: err })
      }
      throw err
    }
    let streaming = false
    try {
      const st = await handle.stat()
      const size = st.size
      const etag = fileEtag(size, st.mtimeMs, st.ino)
      const lastModified = st.mtime.toUTCString()
      const headers: Record<string, string> = {
        'accept-ranges': 'bytes', 'etag': etag, 'last-modified': lastModified, 'content-type': 'application/octet-stream',
        'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(name)}`, 'cache-control': 'private, no-transform',
      }
      if (noneMatch(header(req, 'if-none-match'), etag)) {
        this.metrics.inc('upload_extract_requests_total', 'Extract requests answered with the file (or 304)', { status: '304' })
        res.writeHead(304, headers)
        res.end()
        return
      }
      const range = decideRange(header(req, 'range'), size, { ifRange: header(req, 'if-range'), etag, lastModified })
      if (range.kind === 'unsatisfiable') {
        throw new UploadError('ERR_EXTRACT_RANGE', `the range is outside the file's ${size} bytes`, { headers: { 'content-range': `bytes */${size}`, 'accept-ranges': 'bytes' } })
      }
      const start = range.kind === 'partial' ? range.start : 0
      const end = range.kind === 'partial' ? range.end : size - 1
      const length = end - start + 1
      if (range.kind === 'partial') headers['content-range'] = `bytes ${start}-${end}/${size}`
      headers['content-length'] = String(length)
      const status = range.kind === 'partial' ? 206 : 200
      this.metrics.inc('upload_extract_requests_total', 'Extract requests answered with the file (or 304)', { status: String(status) })
      res.writeHead(status, headers)
      if (req.method === 'HEAD' || length === 0) {
        res.end()
        return
      }
      const stream = handle.createReadStream({ start, end, highWaterMark: 64 * 1024, autoClose: true })
      streaming = true
      // pipeline: a client that reads slowly slows the file reads (backpressure); one that goes
      // away destroys the stream, which closes the file.
      pipeline(stream, res, (err) => {
        this.metrics.inc('upload_extract_bytes_total', 'Extract bytes sent', {}, stream.bytesRead)
        if (err !== undefined && err !== null) this.log.debug({ extract: name, err }, 'extract download ended early')
      })
    } finally {
      if (!streaming) await handle.close()
    }
  }

  private checkExtractSignature(entry: ExtractEntry, query: Map<string, string>): void {
    const signature = query.get('signature')
    const expires = query.get('expires')
    if (signature === undefined && expires === undefined) {
      if (entry.requireSignature) throw new UploadError('ERR_EXTRACT_SIGNATURE', 'this extract is served only through a signed URL')
      return
    }
    if (signature === undefined || expires === undefined || !/^\d{1,12}$/.test(expires)) {
      throw new UploadError('ERR_EXTRACT_SIGNATURE', 'a signed extract URL has expires (Unix seconds) and signature')
    }
    const key = this.key
    if (key === null || !verifyExtractSignature(key, entry.name, Number(expires), signature)) {
      throw new UploadError('ERR_EXTRACT_SIGNATURE', 'the signature does not match this extract and expiry')
    }
    if (Number(expires) * 1000 <= this.now()) throw new UploadError('ERR_EXTRACT_EXPIRED', 'the extract URL expired')
  }

  // --- answers ---

  private refuse(req: IncomingMessage, res: ServerResponse, err: unknown, kind: 'upload' | 'extract', path: string): void {
    const r = toRefusal(err)
    this.metrics.inc(kind === 'upload' ? 'upload_refused_total' : 'upload_extract_refused_total',
      kind === 'upload' ? 'Upload requests refused, by code' : 'Extract requests refused, by code', { code: r.code })
    const fields = { code: r.code, method: req.method, path: kind === 'upload' ? path : '/userdata/…', remote: req.socket.remoteAddress }
    if (r.status >= 500 && r.code !== 'ERR_UPLOAD_BUSY' && r.code !== 'ERR_UPLOAD_DISABLED') this.log.error({ ...fields, err }, 'request failed')
    else this.log.info({ ...fields, message: r.message }, 'request refused')
    if (res.headersSent || res.destroyed || req.socket.destroyed) {
      if (!res.writableEnded) res.destroy()
      return
    }
    sendJson(res, r.status, { error: { code: r.code, message: r.message } }, r.headers)
    if (!req.complete) res.once('finish', () => this.linger(req))
  }

  /**
   * After answering a request whose body is still arriving: reads and drops at most
   * `lingerBytes` for at most `lingerMs`, then closes. Closing at once would make the kernel
   * reset the connection over the unread bytes, and a client may lose the answer with it.
   */
  private linger(req: IncomingMessage): void {
    const socket = req.socket
    if (req.complete || socket.destroyed) return
    let drained = 0
    const timer = setTimeout(() => socket.destroy(), this.o.lingerMs)
    timer.unref()
    req.removeAllListeners('readable')
    req.on('data', (chunk: Buffer) => {
      drained += chunk.length
      if (drained > this.o.lingerBytes) {
        clearTimeout(timer)
        socket.destroy()
      }
    })
    req.once('end', () => clearTimeout(timer))
    req.once('close', () => clearTimeout(timer))
    req.resume()
  }
}

function toRefusal(err: unknown): Refusal {
  const code = errorCode(err)
  const status = (err as { status?: unknown } | null)?.status
  if (code !== undefined && typeof status === 'number' && status >= 400 && status < 600) {
    const headers = (err as { headers?: unknown }).headers
    return { code, status, message: (err as Error).message, headers: typeof headers === 'object' && headers !== null ? headers as Record<string, string> : {} }
  }
  return { code: 'ERR_INTERNAL', status: 500, message: 'internal error', headers: {} }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), 'cache-control': 'no-store' })
  res.end(text)
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** The three authorisation values from one source, or undefined when that source has none of them. */
function authFrom(get: (name: 'signature' | 'metadata' | 'expires') => string | undefined): Auth | undefined {
  const signature = get('signature')
  const metadata = get('metadata')
  const expires = get('expires')
  if (signature === undefined && metadata === undefined && expires === undefined) return undefined
  if (signature === undefined || metadata === undefined || expires === undefined || signature === '' || metadata === '' || expires === '') {
    throw new UploadError('ERR_UPLOAD_SIGNATURE', 'signature, metadata and expires are all required')
  }
  return { signature, metadata, expires }
}

function contentLength(req: IncomingMessage): number | undefined {
  const v = header(req, 'content-length')
  if (v === undefined) return undefined
  if (!/^\d{1,16}$/.test(v)) throw new UploadError('ERR_UPLOAD_MALFORMED', 'Content-Length is not a number')
  return Number(v)
}

/**
 * A query string as a map (first value of a name wins). Values are percent-decoded but a `+`
 * stays a `+`: base64 signatures and ISO offsets hold plus signs that an unencoded query
 * would otherwise turn into spaces (a space, never in base64 or ISO text, is read back as `+`).
 */
function parseQuery(text: string): Map<string, string> {
  const out = new Map<string, string>()
  if (text === '') return out
  for (const pair of text.split('&')) {
    const eq = pair.indexOf('=')
    const name = decodeSegment(eq < 0 ? pair : pair.slice(0, eq))
    const value = decodeSegment(eq < 0 ? '' : pair.slice(eq + 1)).replace(/ /g, '+')
    if (!out.has(name)) out.set(name, value)
  }
  return out
}

function decodeSegment(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    throw new UploadError('ERR_UPLOAD_MALFORMED', 'the URL holds an invalid percent escape')
  }
}

/** The name in /userdata/<name>: one percent-decoded segment that is a safe file name. */
function decodeExtractName(raw: string): string {
  let name: string
  try {
    name = decodeURIComponent(raw)
  } catch {
    throw new UploadError('ERR_EXTRACT_NAME', 'the extract name holds an invalid percent escape')
  }
  try {
    return checkFileName(name, 'extract name')
  } catch (err) {
    throw new UploadError('ERR_EXTRACT_NAME', (err as Error).message)
  }
}

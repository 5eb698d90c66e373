import { ApplianceError } from '../../core/errors.ts'

/**
 * The download errors, one stable code each (README catalogue). Messages carry URLs only through
 * redactUrl(). `retryable` marks the failures a resume may cure (the network, a timeout, a
 * transient status); the fetcher retries those and gives up with ERR_DOWNLOAD_RESUME.
 */

/** A URL the fetcher will not use: not http/https, unparsable, or a proxy that is not http://. */
export class DownloadUrlError extends ApplianceError {
  constructor(message: string) {
    super('ERR_DOWNLOAD_URL', message)
  }
}

/** The server answered with a status that is not the resource (404, 401, 403, 500…). */
export class DownloadHttpError extends ApplianceError {
  readonly status: number
  readonly retryable: boolean
  constructor(status: number, message: string) {
    super('ERR_DOWNLOAD_HTTP', message)
    this.status = status
    // curl --retry's list: a server that is busy or briefly broken, not one that said no.
    this.retryable = [408, 429, 500, 502, 503, 504].includes(status)
  }
}

export type TimeoutPhase = 'connect' | 'headers' | 'body'

/** Nothing happened for too long: no TCP connection, no response headers, or no body bytes. */
export class DownloadTimeoutError extends ApplianceError {
  readonly phase: TimeoutPhase
  readonly ms: number
  readonly retryable = true
  constructor(phase: TimeoutPhase, ms: number, where: string) {
    super('ERR_DOWNLOAD_TIMEOUT', phase === 'connect'
      ? `${where}: no connection within ${ms} ms`
      : phase === 'headers' ? `${where}: no response within ${ms} ms` : `${where}: no data for ${ms} ms`)
    this.phase = phase
    this.ms = ms
  }
}

/** The connection failed or broke off (refused, reset, unresolvable, ended before its length). */
export class DownloadNetworkError extends ApplianceError {
  readonly retryable = true
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_DOWNLOAD_NETWORK', message, options)
  }
}

/** The TLS handshake failed on trust: an unknown CA, an expired certificate, a name that does not match. */
export class DownloadTlsError extends ApplianceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_DOWNLOAD_TLS', message, options)
  }
}

/** The resource is larger than the caller allows (declared by the server, or counted as it came). */
export class DownloadTooLargeError extends ApplianceError {
  readonly maxBytes: number
  constructor(maxBytes: number, message: string) {
    super('ERR_DOWNLOAD_TOO_LARGE', message)
    this.maxBytes = maxBytes
  }
}

/** A redirect the fetcher will not follow: not allowed by the caller, too many, or https → http. */
export class DownloadRedirectError extends ApplianceError {
  readonly status: number
  constructor(status: number, message: string) {
    super('ERR_DOWNLOAD_REDIRECT', message)
    this.status = status
  }
}

/** Retries ran out: `attempts` requests in a row made no progress; `cause` is the last failure. */
export class DownloadResumeError extends ApplianceError {
  readonly attempts: number
  readonly lastCode: string | undefined
  constructor(attempts: number, last: ApplianceError) {
    super('ERR_DOWNLOAD_RESUME', `gave up after ${attempts} attempts without progress: ${last.message}`, { cause: last })
    this.attempts = attempts
    this.lastCode = last.code
  }
}

/** The caller's AbortSignal fired. */
export class DownloadCancelledError extends ApplianceError {
  constructor(where: string) {
    super('ERR_DOWNLOAD_CANCELLED', `${where}: cancelled`)
  }
}

/** A compressed image that does not decompress (corrupt, truncated, or the tool failed). */
export class DecompressError extends ApplianceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_DOWNLOAD_DECOMPRESS', message, options)
  }
}

/** True for the failures a new request may cure. */
export function isRetryable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { retryable?: unknown }).retryable === true
}

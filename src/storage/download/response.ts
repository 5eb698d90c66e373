import { DownloadHttpError, DownloadTooLargeError } from './errors.ts'

/**
 * Pure. What one HTTP response means for a download that holds `position` bytes already
 * (RFC 9110 §14 range requests, §13.1.5 If-Range):
 *
 *   200             the whole resource: a server that ignores Range, or If-Range saw the file
 *                   change → start again from 0 (the sink is truncated; what it held is wasted)
 *   206             the rest, if Content-Range starts where we are → append; a range that starts
 *                   elsewhere cannot be trusted → ask again for the whole resource without Range
 *   416             nothing at or past `position`: Content-Range `bytes *∕N` with N = position
 *                   means we hold it all; N < position (the file shrank) or no N → from 0
 *   3xx + Location  a redirect (the fetcher decides with url.ts planRedirect)
 *   anything else   ERR_DOWNLOAD_HTTP with the status
 *
 * The size limit is checked here, before any byte of the body is written.
 */

export interface ResponseFacts {
  status: number
  statusMessage?: string | undefined
  contentLength?: string | undefined
  contentRange?: string | undefined
  location?: string | undefined
}

export type ResponsePlan =
  /** Write the body from `start` (0 after `restart`); `total` is the resource's length when known. */
  | { kind: 'body'; start: number; total: number | undefined; restart: boolean }
  /** Nothing left to fetch: the sink holds all `total` bytes. */
  | { kind: 'complete'; total: number }
  /**
   * Truncate and ask again from 0; `rangesBroken` when the server's ranges cannot be trusted (a
   * 206 that is not what was asked), so later resumes of this call ask without Range too.
   */
  | { kind: 'restart'; reason: string; rangesBroken: boolean }
  | { kind: 'redirect'; status: number; location: string | undefined }

export interface ContentRange {
  /** First and last byte of this part, or undefined for the unsatisfied form `bytes *∕N`. */
  first: number | undefined
  last: number | undefined
  /** The full length, or undefined for `∕*`. */
  total: number | undefined
}

const REDIRECTS = new Set([301, 302, 303, 307, 308])

/** Pure. Parses `bytes a-b/N`, `bytes a-b/*` or `bytes *∕N`; undefined when malformed. */
export function parseContentRange(text: string | undefined): ContentRange | undefined {
  if (text === undefined) return undefined
  const m = /^\s*bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)\s*$/i.exec(text)
  if (m === null) return undefined
  const total = m[3] === '*' ? undefined : Number(m[3])
  if (m[1] === undefined) return total === undefined ? undefined : { first: undefined, last: undefined, total }
  const first = Number(m[1])
  const last = Number(m[2])
  if (last < first || (total !== undefined && last >= total)) return undefined
  return { first, last, total }
}

/** Pure. A Content-Length header as a number, undefined when absent or not a plain integer. */
export function parseContentLength(text: string | undefined): number | undefined {
  return text !== undefined && /^\s*\d+\s*$/.test(text) ? Number(text) : undefined
}

function tooLarge(where: string, size: number, maxBytes: number): DownloadTooLargeError {
  return new DownloadTooLargeError(maxBytes, `${where}: the server declares ${size} bytes, more than the maximum of ${maxBytes}`)
}

/** Pure. The message of an error status; 404 and the auth statuses get words of their own. */
export function statusMessage(status: number, where: string, text?: string): string {
  switch (status) {
    case 404: return `${where}: not found (HTTP 404)`
    case 401: return `${where}: the server wants credentials, or refused the ones in the URL (HTTP 401)`
    case 403: return `${where}: access forbidden (HTTP 403)`
    case 407: return `${where}: the proxy wants credentials, or refused the ones given (HTTP 407)`
    default: return `${where}: HTTP ${status}${text === undefined || text === '' ? '' : ` ${text}`}`
  }
}

/**
 * Pure. The plan for a response to a request for the bytes from `position` on (a Range request
 * when position > 0). Throws ERR_DOWNLOAD_HTTP for an error status and ERR_DOWNLOAD_TOO_LARGE
 * when the declared size passes `maxBytes`.
 */
export function planResponse(facts: ResponseFacts, options: { position: number; maxBytes: number; where: string }): ResponsePlan {
  const { position, maxBytes, where } = options
  const { status } = facts
  if (REDIRECTS.has(status)) return { kind: 'redirect', status, location: facts.location }
  const length = parseContentLength(facts.contentLength)
  if (status === 200) {
    if (length !== undefined && length > maxBytes) throw tooLarge(where, length, maxBytes)
    return { kind: 'body', start: 0, total: length, restart: position > 0 }
  }
  if (status === 206 && position > 0) {
    const range = parseContentRange(facts.contentRange)
    const broken = (reason: string): ResponsePlan => ({ kind: 'restart', reason, rangesBroken: true })
    if (range === undefined || range.first === undefined) return broken(`a 206 with an unusable Content-Range "${facts.contentRange ?? ''}"`)
    if (range.first !== position) return broken(`asked for bytes from ${position}, the server sent from ${range.first}`)
    if (length !== undefined && length !== range.last! - range.first + 1) return broken(`Content-Length ${length} does not fit Content-Range ${facts.contentRange ?? ''}`)
    const total = range.total
    if (total !== undefined && total > maxBytes) throw tooLarge(where, total, maxBytes)
    if (total === undefined && range.last! + 1 > maxBytes) throw tooLarge(where, range.last! + 1, maxBytes)
    return { kind: 'body', start: position, total, restart: false }
  }
  if (status === 416 && position > 0) {
    const range = parseContentRange(facts.contentRange)
    if (range?.total === position) return { kind: 'complete', total: position }
    return {
      kind: 'restart',
      reason: range?.total === undefined
        ? `range from ${position} not satisfiable, and the server did not say the length`
        : `we hold ${position} bytes, the resource now has ${range.total}`,
      rangesBroken: false,
    }
  }
  throw new DownloadHttpError(status, statusMessage(status, where, facts.statusMessage))
}

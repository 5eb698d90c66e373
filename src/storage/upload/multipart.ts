import { UploadError } from './errors.ts'

/**
 * A streaming multipart/form-data parser (RFC 7578 over RFC 2046), pure: bytes in, events out.
 * It never holds a part's body: data events are views (subarray) of the chunk pushed, and
 * between pushes it keeps at most the tail of a chunk that could be the start of the next
 * delimiter (≤ 73 bytes), a part's header block (≤ maxHeaderBytes) or a boundary line's end.
 *
 * Why our own and not busboy / @fastify/multipart: neither is in node_modules, and adding one
 * would change the dependency tree shared by every worktree; this covers what an upload needs
 * (a delimiter search with Buffer.indexOf, a header block, Content-Disposition) in ~200 lines,
 * with limits that fail closed and every refusal an ERR_UPLOAD_MALFORMED.
 *
 * Body grammar: [preamble] CRLF? "--" boundary [LWSP] CRLF headers CRLF body
 * (CRLF "--" boundary [LWSP] CRLF headers CRLF body)* CRLF "--" boundary "--" [epilogue].
 * The delimiter searched is CRLF "--" boundary; a virtual CRLF before the first byte makes the
 * first boundary (which usually opens the body) match like the others.
 */

export interface PartHeaders {
  /** Content-Disposition's `name`. */
  name: string
  /** Content-Disposition's `filename` (or decoded `filename*`); a part with one is a file part. */
  fileName: string | undefined
  contentType: string | undefined
}

export type MultipartEvent =
  | { kind: 'part'; headers: PartHeaders }
  | { kind: 'data'; chunk: Buffer }
  | { kind: 'partEnd' }
  | { kind: 'end' }

export interface MultipartLimits {
  /** Largest header block of one part (default 8 KiB). */
  maxHeaderBytes?: number
  /** Most parts in a body (default 32). */
  maxParts?: number
  /** Most bytes before the first boundary and after the last (default 64 KiB each). */
  maxPreambleBytes?: number
  maxEpilogueBytes?: number
}

const CR = 0x0d
const LF = 0x0a
const DASH = 0x2d
const EMPTY = Buffer.alloc(0)
const CRLF = Buffer.from('\r\n')
const CRLFCRLF = Buffer.from('\r\n\r\n')
/** Transport padding allowed after a boundary (RFC 2046 LWSP), bytes. */
const MAX_PADDING = 64

function malformed(message: string): UploadError {
  return new UploadError('ERR_UPLOAD_MALFORMED', message)
}

/**
 * Pure. The boundary of a `multipart/form-data` Content-Type (RFC 2046: 1–70 characters of
 * bchars, not ending in a space). Throws ERR_UPLOAD_MALFORMED for another type or no boundary.
 */
export function parseBoundary(contentType: string | undefined): string {
  if (contentType === undefined) throw malformed('Content-Type multipart/form-data is required')
  const { value, params } = parseHeaderParams(contentType)
  if (value !== 'multipart/form-data') throw malformed(`Content-Type must be multipart/form-data, not ${JSON.stringify(value)}`)
  const boundary = params.get('boundary')
  if (boundary === undefined || !/^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/.test(boundary)) {
    throw malformed('multipart/form-data needs a boundary of 1 to 70 allowed characters')
  }
  return boundary
}

export class MultipartParser {
  private state: 'preamble' | 'boundaryEnd' | 'headers' | 'body' | 'epilogue' = 'preamble'
  private readonly delimiter: Buffer
  /** Bytes of the previous push not yet decided (a possible delimiter start, an incomplete line). */
  private carry: Buffer = CRLF
  private headerBlock: Buffer = EMPTY
  private parts = 0
  private outside = 0
  private readonly maxHeaderBytes: number
  private readonly maxParts: number
  private readonly maxPreambleBytes: number
  private readonly maxEpilogueBytes: number

  constructor(boundary: string, limits: MultipartLimits = {}) {
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1')
    this.maxHeaderBytes = limits.maxHeaderBytes ?? 8192
    this.maxParts = limits.maxParts ?? 32
    this.maxPreambleBytes = limits.maxPreambleBytes ?? 65536
    this.maxEpilogueBytes = limits.maxEpilogueBytes ?? 65536
  }

  /** True once the closing boundary was read. */
  get done(): boolean {
    return this.state === 'epilogue'
  }

  /**
   * Parses `chunk`, appending events to `out`. Data events are views of `chunk` (or of a small
   * joined buffer): use them before the next push or copy them. Throws ERR_UPLOAD_MALFORMED.
   */
  push(chunk: Buffer, out: MultipartEvent[]): void {
    const buf = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk
    this.carry = EMPTY
    let pos = 0
    while (pos < buf.length) {
      switch (this.state) {
        case 'preamble': {
          const i = buf.indexOf(this.delimiter, pos)
          const stop = i < 0 ? partialDelimiterAt(buf, pos, this.delimiter) : i
          this.outside += stop - pos
          if (this.outside > this.maxPreambleBytes) throw malformed('no boundary where the body should start')
          if (i < 0) {
            this.carry = buf.subarray(stop)
            return
          }
          pos = i + this.delimiter.length
          this.state = 'boundaryEnd'
          break
        }
        case 'boundaryEnd': {
          if (buf.length - pos < 2) {
            this.carry = buf.subarray(pos)
            return
          }
          if (buf[pos] === DASH && buf[pos + 1] === DASH) {
            pos += 2
            this.state = 'epilogue'
            this.outside = 0
            out.push({ kind: 'end' })
            break
          }
          let j = pos
          while (j < buf.length && (buf[j] === 0x20 || buf[j] === 0x09)) j++
          if (j - pos > MAX_PADDING) throw malformed('boundary line is too long')
          if (buf.length - j < 2) {
            this.carry = buf.subarray(pos)
            return
          }
          if (buf[j] !== CR || buf[j + 1] !== LF) throw malformed('boundary is not followed by CRLF or "--"')
          pos = j + 2
          if (++this.parts > this.maxParts) throw malformed(`more than ${this.maxParts} parts`)
          this.state = 'headers'
          break
        }
        case 'headers': {
          const before = this.headerBlock.length
          const block = before > 0 ? Buffer.concat([this.headerBlock, buf.subarray(pos)]) : buf.subarray(pos)
          // An empty header block is the blank line at once; otherwise it ends at CRLF CRLF.
          const empty = block.length >= 2 && block[0] === CR && block[1] === LF
          const end = empty ? 0 : block.indexOf(CRLFCRLF)
          if (end < 0 || (end === 0 && !empty)) {
            if (block.length > this.maxHeaderBytes) throw malformed(`a part's headers exceed ${this.maxHeaderBytes} bytes`)
            this.headerBlock = block
            return
          }
          if (end > this.maxHeaderBytes) throw malformed(`a part's headers exceed ${this.maxHeaderBytes} bytes`)
          pos += end + (empty ? 2 : 4) - before
          this.headerBlock = EMPTY
          out.push({ kind: 'part', headers: parsePartHeaders(block.toString('utf8', 0, end)) })
          this.state = 'body'
          break
        }
        case 'body': {
          const i = buf.indexOf(this.delimiter, pos)
          if (i >= 0) {
            if (i > pos) out.push({ kind: 'data', chunk: buf.subarray(pos, i) })
            out.push({ kind: 'partEnd' })
            pos = i + this.delimiter.length
            this.state = 'boundaryEnd'
            break
          }
          const keep = partialDelimiterAt(buf, pos, this.delimiter)
          if (keep > pos) out.push({ kind: 'data', chunk: buf.subarray(pos, keep) })
          this.carry = buf.subarray(keep)
          return
        }
        case 'epilogue': {
          this.outside += buf.length - pos
          if (this.outside > this.maxEpilogueBytes) throw malformed('too many bytes after the closing boundary')
          return
        }
      }
    }
  }

  /** The body ended; throws ERR_UPLOAD_MALFORMED unless the closing boundary was read. */
  end(): void {
    if (this.state !== 'epilogue') throw malformed('the body ended before the closing boundary')
  }
}

/**
 * Where the undecided tail of `buf` starts: the first index ≥ from (and within a delimiter's
 * length of the end) from which the rest of `buf` is a prefix of the delimiter, or buf.length.
 */
function partialDelimiterAt(buf: Buffer, from: number, delimiter: Buffer): number {
  let k = Math.max(from, buf.length - delimiter.length + 1)
  for (;;) {
    k = buf.indexOf(CR, k)
    if (k < 0) return buf.length
    if (buf.compare(delimiter, 0, buf.length - k, k) === 0) return k
    k++
  }
}

/** Pure. A part's headers; Content-Disposition form-data with a name is required. */
export function parsePartHeaders(text: string): PartHeaders {
  let disposition: string | undefined
  let contentType: string | undefined
  if (text !== '') {
    for (const line of text.split('\r\n')) {
      if (line.startsWith(' ') || line.startsWith('\t')) throw malformed('folded part headers are not accepted')
      const colon = line.indexOf(':')
      if (colon <= 0) throw malformed(`part header without a name: ${JSON.stringify(line.slice(0, 80))}`)
      const name = line.slice(0, colon).trim().toLowerCase()
      const value = line.slice(colon + 1).trim()
      if (name === 'content-disposition') {
        if (disposition !== undefined) throw malformed('a part has two Content-Disposition headers')
        disposition = value
      } else if (name === 'content-type') contentType = value
    }
  }
  if (disposition === undefined) throw malformed('a part has no Content-Disposition')
  const { value, params } = parseHeaderParams(disposition)
  if (value !== 'form-data') throw malformed(`Content-Disposition must be form-data, not ${JSON.stringify(value)}`)
  const name = params.get('name')
  if (name === undefined) throw malformed('a part has no name')
  let fileName = params.get('filename')
  const extended = params.get('filename*')
  if (extended !== undefined) {
    const m = /^utf-8'[^']*'(.*)$/i.exec(extended)
    if (m !== null) {
      try {
        fileName = decodeURIComponent(m[1] as string)
      } catch {
        throw malformed('filename* is not valid percent-encoded UTF-8')
      }
    }
  }
  return { name, fileName, contentType }
}

/**
 * Pure. `type/subtype; key=value; key="quoted \"value\""` → the lower-cased value and the
 * parameters (keys lower-cased, the first of a repeated key kept).
 */
export function parseHeaderParams(header: string): { value: string; params: Map<string, string> } {
  const params = new Map<string, string>()
  const semi = header.indexOf(';')
  const value = (semi < 0 ? header : header.slice(0, semi)).trim().toLowerCase()
  let i = semi < 0 ? header.length : semi + 1
  while (i < header.length) {
    while (i < header.length && (header[i] === ' ' || header[i] === '\t' || header[i] === ';')) i++
    const eq = header.indexOf('=', i)
    const nextSemi = header.indexOf(';', i)
    if (eq < 0 || (nextSemi >= 0 && nextSemi < eq)) {
      i = nextSemi < 0 ? header.length : nextSemi + 1
      continue
    }
    const key = header.slice(i, eq).trim().toLowerCase()
    i = eq + 1
    while (i < header.length && (header[i] === ' ' || header[i] === '\t')) i++
    let val = ''
    if (header[i] === '"') {
      i++
      while (i < header.length && header[i] !== '"') {
        if (header[i] === '\\' && i + 1 < header.length) i++
        val += header[i]
        i++
      }
      i++
    } else {
      const end = header.indexOf(';', i)
      val = header.slice(i, end < 0 ? header.length : end).trim()
      i = end < 0 ? header.length : end
    }
    if (key !== '' && !params.has(key)) params.set(key, val)
  }
  return { value, params }
}

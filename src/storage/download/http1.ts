/**
 * An HTTP/1.1 response decoder for the download fetcher (RFC 9112 §2–§7, the client side of one
 * GET): the status line and headers, then the body framed by Transfer-Encoding: chunked,
 * Content-Length or the connection's end. Pure and incremental: `feed` takes the bytes a read
 * returned and answers the events they complete. Body events are views into the bytes fed, not
 * copies, so a caller reading into one reused buffer (net's `onread`) hands them on before its
 * next read; nothing is allocated per read on the body path.
 *
 * Why not node:http: its parser allocates a Buffer for every read and hands it through a
 * stream, which at 64 KiB reads (mmapped under storaged's MALLOC_MMAP_THRESHOLD_) made the
 * client side of a 1 GiB download cost several times curl's CPU (bench/README.md, storage).
 *
 * Malformed input is a Http1Error (the fetcher's ERR_DOWNLOAD_NETWORK, retried): the head is
 * bounded (MAX_HEAD_BYTES, MAX_HEADERS), chunk-size lines and trailers too, so a hostile server
 * cannot make the decoder hold more than those bounds.
 */

export interface ResponseHead {
  status: number
  statusMessage: string
  /** Lower-case names; a repeated header keeps its first value (the fetcher reads single-valued ones). */
  headers: Record<string, string>
}

export type ResponseEvent =
  | { kind: 'head'; head: ResponseHead }
  | { kind: 'body'; data: Buffer }
  /** The body is complete (its framing says so); bytes after it are ignored. */
  | { kind: 'end' }

export class Http1Error extends Error {}

export const MAX_HEAD_BYTES = 64 * 1024
export const MAX_HEADERS = 200
const MAX_CHUNK_LINE = 4096
const MAX_TRAILER_BYTES = 16 * 1024
/** More than 2^53 cannot be counted exactly; no download is near it. */
const MAX_HEX_DIGITS = 13

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const STATUS_LINE = /^HTTP\/1\.([01]) ([0-9]{3})(?: (.*))?$/
// Field values: visible characters, spaces, tabs and obs-text; never CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

type State =
  | { at: 'head' }
  | { at: 'length'; left: number }
  | { at: 'chunk-size' }
  | { at: 'chunk-data'; left: number }
  | { at: 'chunk-end' }
  | { at: 'trailer'; bytes: number }
  | { at: 'close' }
  | { at: 'done' }

export class ResponseDecoder {
  private state: State = { at: 'head' }
  /** Bytes of an unfinished head or line, kept across reads (bounded by the limits above). */
  private pending: Buffer = Buffer.alloc(0)

  /** Whether the body has ended; bytes fed after that are ignored. */
  get done(): boolean {
    return this.state.at === 'done'
  }

  /** Decodes `bytes`; the body events are views of `bytes` and valid as long as it is. */
  feed(bytes: Buffer): ResponseEvent[] {
    const events: ResponseEvent[] = []
    let at = 0
    while (at < bytes.length && this.state.at !== 'done') {
      const state = this.state
      switch (state.at) {
        case 'head': {
          const end = this.takeHead(bytes, at)
          if (end === undefined) return events
          at = end.next
          this.startBody(end.head, events)
          break
        }
        case 'length':
        case 'chunk-data': {
          const n = Math.min(state.left, bytes.length - at)
          events.push({ kind: 'body', data: bytes.subarray(at, at + n) })
          at += n
          state.left -= n
          if (state.left > 0) break
          if (state.at === 'length') this.finish(events)
          else this.state = { at: 'chunk-end' }
          break
        }
        case 'close':
          events.push({ kind: 'body', data: bytes.subarray(at) })
          at = bytes.length
          break
        case 'chunk-size':
        case 'chunk-end':
        case 'trailer': {
          const line = state.at === 'trailer'
            ? this.takeLine(bytes, at, MAX_TRAILER_BYTES - state.bytes, 'the trailer section')
            : this.takeLine(bytes, at, MAX_CHUNK_LINE, 'a chunk size line')
          if (line === undefined) return events
          at = line.next
          this.onLine(state, line.text, events)
          break
        }
      }
    }
    return events
  }

  /** The connection ended: the last event, or a Http1Error if the body is cut short. */
  finishAtClose(): ResponseEvent[] {
    switch (this.state.at) {
      case 'done':
        return []
      case 'close':
        this.state = { at: 'done' }
        return [{ kind: 'end' }]
      case 'head':
        throw new Http1Error(this.pending.length === 0 ? 'the connection closed before a response' : 'the connection closed inside the response head')
      case 'length':
        throw new Http1Error(`the connection closed ${this.state.left} bytes before the end of the body`)
      default:
        throw new Http1Error('the connection closed inside a chunked body')
    }
  }

  private finish(events: ResponseEvent[]): void {
    this.state = { at: 'done' }
    this.pending = Buffer.alloc(0)
    events.push({ kind: 'end' })
  }

  private onLine(state: State, text: string, events: ResponseEvent[]): void {
    if (state.at === 'chunk-end') {
      if (text !== '') throw new Http1Error('a chunk is longer than its size line says')
      this.state = { at: 'chunk-size' }
      return
    }
    if (state.at === 'trailer') {
      if (text === '') return this.finish(events)
      state.bytes += text.length + 2
      return
    }
    // chunk-size [; extensions]; extensions are ignored (RFC 9112 §7.1.1).
    const semi = text.indexOf(';')
    const hex = (semi < 0 ? text : text.slice(0, semi)).trimEnd()
    if (!/^[0-9A-Fa-f]+$/.test(hex) || hex.replace(/^0+(?=.)/, '').length > MAX_HEX_DIGITS) {
      throw new Http1Error(`a chunk size line is not a hexadecimal size: ${JSON.stringify(text.slice(0, 40))}`)
    }
    const size = Number.parseInt(hex, 16)
    this.state = size === 0 ? { at: 'trailer', bytes: 0 } : { at: 'chunk-data', left: size }
  }

  /** A line ending in LF (CRLF or a bare LF, RFC 9112 §2.2), without it; pending bytes joined. */
  private takeLine(bytes: Buffer, at: number, limit: number, what: string): { text: string; next: number } | undefined {
    const lf = bytes.indexOf(0x0a, at)
    if (lf < 0) {
      this.hold(bytes.subarray(at), limit, what)
      return undefined
    }
    const line = this.pending.length === 0 ? bytes.subarray(at, lf) : Buffer.concat([this.pending, bytes.subarray(at, lf)])
    this.pending = Buffer.alloc(0)
    if (line.length > limit) throw new Http1Error(`${what} is over ${limit} bytes`)
    const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length
    return { text: line.toString('latin1', 0, end), next: lf + 1 }
  }

  private hold(bytes: Buffer, limit: number, what: string): void {
    if (this.pending.length + bytes.length > limit) throw new Http1Error(`${what} is over ${limit} bytes`)
    this.pending = Buffer.concat([this.pending, bytes])
  }

  /** The head when its blank line is in; the index after it. Interim 1xx heads are skipped. */
  private takeHead(bytes: Buffer, at: number): { head: ResponseHead; next: number } | undefined {
    const joined = this.pending.length === 0 ? bytes.subarray(at) : Buffer.concat([this.pending, bytes.subarray(at)])
    const end = headEnd(joined)
    if (end === undefined) {
      if (joined.length > MAX_HEAD_BYTES) throw new Http1Error(`the response head is over ${MAX_HEAD_BYTES} bytes`)
      this.pending = Buffer.from(joined)
      return undefined
    }
    if (end.blank > MAX_HEAD_BYTES) throw new Http1Error(`the response head is over ${MAX_HEAD_BYTES} bytes`)
    const head = parseHead(joined.toString('latin1', 0, end.blank))
    // `next` indexes `bytes`: the pending part came before `at`.
    const next = at + end.next - this.pending.length
    this.pending = Buffer.alloc(0)
    if (head.status >= 100 && head.status < 200) {
      if (head.status === 101) throw new Http1Error('the server switched protocols (101) on a download')
      return next >= bytes.length ? undefined : this.takeHead(bytes, next)
    }
    return { head, next }
  }

  private startBody(head: ResponseHead, events: ResponseEvent[]): void {
    events.push({ kind: 'head', head })
    const te = head.headers['transfer-encoding']
    const cl = head.headers['content-length']
    if (head.status === 204 || head.status === 304) return this.finish(events)
    if (te !== undefined) {
      // RFC 9112 §6.3: chunked as the last coding frames the body; any other coding runs to the close.
      const codings = te.toLowerCase().split(',').map((c) => c.trim())
      this.state = codings[codings.length - 1] === 'chunked' ? { at: 'chunk-size' } : { at: 'close' }
      return
    }
    if (cl !== undefined) {
      const left = Number(cl)
      if (left === 0) return this.finish(events)
      this.state = { at: 'length', left }
      return
    }
    this.state = { at: 'close' }
  }
}

function headEnd(bytes: Buffer): { blank: number; next: number } | undefined {
  for (let from = 0; ;) {
    const lf = bytes.indexOf(0x0a, from)
    if (lf < 0) return undefined
    if (lf + 1 < bytes.length && bytes[lf + 1] === 0x0a) return { blank: lf, next: lf + 2 }
    if (lf + 2 < bytes.length && bytes[lf + 1] === 0x0d && bytes[lf + 2] === 0x0a) return { blank: lf, next: lf + 3 }
    if (lf + 2 >= bytes.length && (lf + 1 === bytes.length || bytes[lf + 1] === 0x0d)) return undefined
    from = lf + 1
  }
}

/** The status line and fields of one head (its text up to the blank line, line ends included or not). */
export function parseHead(text: string): ResponseHead {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l))
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
  const statusLine = lines.shift() ?? ''
  const m = STATUS_LINE.exec(statusLine)
  if (m === null) throw new Http1Error(`not an HTTP/1.x status line: ${JSON.stringify(statusLine.slice(0, 80))}`)
  if (lines.length > MAX_HEADERS) throw new Http1Error(`the response has more than ${MAX_HEADERS} header lines`)
  const headers: Record<string, string> = {}
  for (const line of lines) {
    if (line.startsWith(' ') || line.startsWith('\t')) throw new Http1Error('the response folds a header line (obsolete line folding)')
    const colon = line.indexOf(':')
    const name = colon < 0 ? '' : line.slice(0, colon)
    if (!TOKEN.test(name)) throw new Http1Error(`not a header line: ${JSON.stringify(line.slice(0, 80))}`)
    const value = line.slice(colon + 1).trim()
    if (!FIELD_VALUE.test(value)) throw new Http1Error(`header ${name} has a control character in its value`)
    const key = name.toLowerCase()
    const before = headers[key]
    if (before === undefined) headers[key] = value
    else if (key === 'content-length' && before !== value) throw new Http1Error('the response has two different Content-Length headers')
    else if (key === 'transfer-encoding') headers[key] = `${before}, ${value}`
  }
  const cl = headers['content-length']
  if (cl !== undefined && headers['transfer-encoding'] === undefined && !/^[0-9]{1,16}$/.test(cl)) {
    throw new Http1Error(`Content-Length is not a length: ${JSON.stringify(cl.slice(0, 40))}`)
  }
  return { status: Number(m[2]), statusMessage: m[3] ?? '', headers }
}

import { readU16, readU32, writeU16, writeU32 } from '../../../core/bytes.ts'

/**
 * The DNS hot path on raw bytes (RFC 1035 §4.1): read a query's header and question without a
 * full decode, and edit cached responses in place (id, flags, TTLs, the OPT record). Pure.
 * Everything else (building answers, unusual queries) goes through dns-packet.
 */

export const HEADER = 12
export const TYPE_OPT = 41
export const TYPE_SOA = 6
export const CLASS_IN = 1
/** What we advertise and accept over UDP with EDNS0 (the 2020 DNS flag day value). */
export const EDNS_UDP_SIZE = 1232
export const PLAIN_UDP_SIZE = 512

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const
/** RFC 6891 §6.1.3: 16, carried as 1 in the OPT record's extended-rcode byte, 0 in the header. */
export const RCODE_BADVERS = 16
export const TYPE_IXFR = 251
export const TYPE_AXFR = 252

const FLAG_QR = 0x8000
const FLAG_TC = 0x0200
const FLAG_RD = 0x0100
const OPCODE_MASK = 0x7800

export interface ParsedQuery {
  id: number
  /** Header flags as received. */
  flags: number
  /**
   * The question (name, type, class) as wire bytes read as latin1, ASCII letters lower-cased:
   * the cache key, made with one native call instead of a name built character by character.
   */
  key: string
  qtype: number
  qclass: number
  /** Offset just past the question section. */
  questionEnd: number
  /** The client's EDNS0 UDP payload size, or undefined without an OPT record. */
  ednsSize: number | undefined
  /** The EDNS version of the OPT record; 0 without one. */
  ednsVersion: number
}

/** What an error reply echoes: the question up to `questionEnd`, and an OPT record when the query had a well-formed one. */
export interface EchoShape {
  questionEnd: number
  ednsSize: number | undefined
}

export type QueryProblem = 'short' | 'not-a-query' | 'opcode' | 'counts' | 'name' | 'additional'

/** The end of a name at `at` (no compression: queries have none), or -1 when it is not a valid name. */
function queryNameEnd(buf: Uint8Array, at: number): number {
  let i = at
  for (;;) {
    if (i >= buf.length) return -1
    const len = buf[i] as number
    if (len === 0) return i + 1
    if (len > 63 || i + len - at > 253) return -1
    i += 1 + len
  }
}

/** Pure. The question's name, lower-cased, without the trailing dot ('' for the root). */
export function questionName(buf: Uint8Array): string {
  return readQueryName(buf, HEADER)?.[0] ?? ''
}

/** Reads one name at `at` (no compression: queries have none); returns [lower-cased name, end] or undefined. */
function readQueryName(buf: Uint8Array, at: number): [string, number] | undefined {
  let name = ''
  let i = at
  let total = 0
  for (;;) {
    if (i >= buf.length) return undefined
    const len = buf[i] as number
    if (len === 0) return [name, i + 1]
    if (len > 63) return undefined
    total += len + 1
    if (total > 254 || i + 1 + len > buf.length) return undefined
    let label = ''
    for (let k = i + 1; k <= i + len; k++) {
      let c = buf[k] as number
      if (c >= 65 && c <= 90) c += 32
      // Dots and odd bytes inside a label are kept distinguishable from separators.
      label += c === 46 || c < 33 || c > 126 ? `\\${c.toString().padStart(3, '0')}` : String.fromCharCode(c)
    }
    name = name === '' ? label : `${name}.${label}`
    i += 1 + len
  }
}

/** Pure. The query's header and single question, or what is wrong with it. */
export function parseQuery(buf: Uint8Array): ParsedQuery | QueryProblem {
  if (buf.length < HEADER + 5) return 'short'
  const flags = readU16(buf, 2)
  if (flags & FLAG_QR) return 'not-a-query'
  if ((flags & OPCODE_MASK) !== 0) return 'opcode'
  const qd = readU16(buf, 4)
  const an = readU16(buf, 6)
  const ns = readU16(buf, 8)
  const ar = readU16(buf, 10)
  if (qd !== 1 || an !== 0 || ns !== 0 || ar > 1) return 'counts'
  const nameEnd = queryNameEnd(buf, HEADER)
  if (nameEnd < 0) return 'name'
  if (nameEnd + 4 > buf.length) return 'short'
  const qtype = readU16(buf, nameEnd)
  const qclass = readU16(buf, nameEnd + 2)
  const questionEnd = nameEnd + 4
  let ednsSize: number | undefined
  let ednsVersion = 0
  if (ar === 1) {
    // The one additional record a query may carry is OPT with the root name.
    if (questionEnd + 11 > buf.length || buf[questionEnd] !== 0) return 'additional'
    const type = readU16(buf, questionEnd + 1)
    if (type !== TYPE_OPT) return 'additional'
    ednsSize = Math.max(PLAIN_UDP_SIZE, readU16(buf, questionEnd + 3))
    ednsVersion = buf[questionEnd + 6] as number
  }
  return { id: readU16(buf, 0), flags, key: questionKey(buf, questionEnd), qtype, qclass, questionEnd, ednsSize, ednsVersion }
}

/**
 * Pure. What a query that parseQuery rejected still shows, for its FORMERR/NOTIMP reply: the
 * question when there is exactly one and its name reads, the OPT record when it directly
 * follows the question (no answer or authority records) and is well formed. Undefined when not
 * even the question reads. `qtype` lets IXFR (which carries an SOA in its authority section) be
 * refused rather than called malformed.
 */
export function salvageQuestion(buf: Uint8Array): (EchoShape & { qtype: number }) | undefined {
  if (buf.length < HEADER + 5) return undefined
  const qd = readU16(buf, 4)
  if (qd !== 1) return undefined
  const nameEnd = queryNameEnd(buf, HEADER)
  if (nameEnd < 0 || nameEnd + 4 > buf.length) return undefined
  const questionEnd = nameEnd + 4
  const qtype = readU16(buf, nameEnd)
  const an = readU16(buf, 6)
  const ns = readU16(buf, 8)
  const ar = readU16(buf, 10)
  const optFollows = an === 0 && ns === 0 && ar === 1 && questionEnd + 11 <= buf.length && buf[questionEnd] === 0 &&
    readU16(buf, questionEnd + 1) === TYPE_OPT
  const ednsSize = optFollows ? Math.max(PLAIN_UDP_SIZE, readU16(buf, questionEnd + 3)) : undefined
  return { questionEnd, ednsSize, qtype }
}

const UPPER = /[A-Z]/
const NON_ASCII = /[\x80-\xff]/

function questionKey(buf: Uint8Array, end: number): string {
  const raw = Buffer.from(buf.buffer, buf.byteOffset, buf.length).toString('latin1', HEADER, end)
  if (NON_ASCII.test(raw)) {
    // toLowerCase would fold latin1 letters too; DNS folds ASCII only.
    let key = ''
    for (let i = 0; i < raw.length; i++) {
      const c = raw.charCodeAt(i)
      key += String.fromCharCode(c >= 65 && c <= 90 ? c + 32 : c)
    }
    return key
  }
  return UPPER.test(raw) ? raw.toLowerCase() : raw
}

/** Skips a possibly compressed name; returns the offset after it, or -1. */
function skipName(buf: Uint8Array, at: number): number {
  let i = at
  for (let guard = 0; guard < 128; guard++) {
    if (i >= buf.length) return -1
    const len = buf[i] as number
    if (len === 0) return i + 1
    if ((len & 0xc0) === 0xc0) return i + 2 <= buf.length ? i + 2 : -1
    if (len > 63) return -1
    i += 1 + len
  }
  return -1
}

export interface ResponseLayout {
  rcode: number
  /** Offsets of the TTL field of every record but OPT. */
  ttlOffsets: number[]
  /** Lowest TTL among the answer records, or for a negative answer the SOA's negative TTL (RFC 2308 §5). */
  cacheSeconds: number | undefined
  /** Where the OPT record starts (it is the last record), or -1. */
  optAt: number
}

/** Pure. Walks a response's records; undefined when it is malformed. */
export function layoutOf(buf: Uint8Array): ResponseLayout | undefined {
  if (buf.length < HEADER) return undefined
  const rcode = (buf[3] as number) & 15
  const qd = readU16(buf, 4)
  const counts = [readU16(buf, 6), readU16(buf, 8), readU16(buf, 10)]
  let i = HEADER
  for (let q = 0; q < qd; q++) {
    i = skipName(buf, i)
    if (i < 0 || i + 4 > buf.length) return undefined
    i += 4
  }
  const ttlOffsets: number[] = []
  let answerTtl: number | undefined
  let negativeTtl: number | undefined
  let optAt = -1
  for (let section = 0; section < 3; section++) {
    for (let r = 0; r < (counts[section] as number); r++) {
      const start = i
      i = skipName(buf, i)
      if (i < 0 || i + 10 > buf.length) return undefined
      const type = readU16(buf, i)
      const ttl = readU32(buf, i + 4)
      const rdlen = readU16(buf, i + 8)
      if (i + 10 + rdlen > buf.length) return undefined
      if (type === TYPE_OPT) {
        if (section !== 2 || r !== (counts[2] as number) - 1) return undefined
        optAt = start
      } else {
        ttlOffsets.push(i + 4)
        if (section === 0) answerTtl = Math.min(answerTtl ?? ttl, ttl)
        if (section === 1 && type === TYPE_SOA && rdlen >= 22) negativeTtl = Math.min(ttl, readU32(buf, i + 10 + rdlen - 4))
      }
      i += 10 + rdlen
    }
  }
  if (i !== buf.length) return undefined
  return { rcode, ttlOffsets, cacheSeconds: counts[0] === 0 ? negativeTtl : answerTtl, optAt }
}

/** The 11-byte OPT record we add to answers for EDNS0 clients and to our queries upstream. */
export const OPT_RECORD = Uint8Array.of(0, 0, TYPE_OPT, EDNS_UDP_SIZE >> 8, EDNS_UDP_SIZE & 255, 0, 0, 0, 0, 0, 0)

/** Pure. A response without its OPT record (layout.optAt), so it can be served to any client. */
export function withoutOpt(buf: Uint8Array, optAt: number): Uint8Array {
  if (optAt < 0) return buf
  const out = buf.slice(0, optAt)
  writeU16(out, 10, readU16(out, 10) - 1)
  return out
}

/**
 * Pure. The reply to one client from a stored response: the client's id, question bytes (its
 * letter case), RD flag; TTLs lowered by `age` seconds; OPT added for an EDNS0 client; cut to
 * the header and question with TC set when it does not fit the client's UDP size.
 */
export function replyFrom(stored: Uint8Array, ttlOffsets: readonly number[], age: number, query: Uint8Array, q: ParsedQuery, maxSize: number): Uint8Array {
  const edns = q.ednsSize !== undefined
  const size = stored.length + (edns ? OPT_RECORD.length : 0)
  if (size > maxSize) return truncatedReply(query, q)
  const out: Uint8Array = Buffer.allocUnsafe(size)
  out.set(stored)
  out[0] = query[0] as number
  out[1] = query[1] as number
  out[2] = ((out[2] as number) & ~(FLAG_RD >> 8)) | ((q.flags & FLAG_RD) >> 8)
  out.set(query.subarray(HEADER, q.questionEnd), HEADER)
  if (age > 0) {
    for (const at of ttlOffsets) {
      writeU32(out, at, Math.max(0, readU32(out, at) - age))
    }
  }
  if (edns) {
    out.set(OPT_RECORD, stored.length)
    writeU16(out, 10, readU16(out, 10) + 1)
  }
  return out
}

/** Pure. Header and question only, with TC: the client retries over TCP. */
export function truncatedReply(query: Uint8Array, q: ParsedQuery): Uint8Array {
  const out = errorReply(query, q, RCODE.NOERROR)
  out[2] = (out[2] as number) | (FLAG_TC >> 8)
  return out
}

/**
 * Pure. A reply with no records and `rcode` (FORMERR, SERVFAIL, REFUSED, NOTIMP, BADVERS…):
 * the question echoed when `shape` is known, and our OPT record when the query had one (RFC
 * 6891 §7), whose extended-rcode byte holds the rcode's upper bits.
 */
export function errorReply(query: Uint8Array, shape: EchoShape | undefined, rcode: number): Uint8Array {
  const end = shape?.questionEnd ?? HEADER
  const edns = shape?.ednsSize !== undefined
  const out = new Uint8Array(end + (edns ? OPT_RECORD.length : 0))
  out.set(query.subarray(0, end))
  out[2] = 0x80 | ((query[2] as number) & 0x79)
  out[3] = 0x80 | (rcode & 15)
  out[4] = 0
  out[5] = shape === undefined ? 0 : 1
  out.fill(0, 6, HEADER)
  if (edns) {
    out.set(OPT_RECORD, end)
    out[end + 5] = rcode >> 4
    out[11] = 1
  }
  return out
}

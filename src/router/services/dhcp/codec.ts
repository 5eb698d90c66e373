import { readU16, readU32, writeU16, writeU32 } from '../../../core/bytes.ts'

/**
 * DHCPv4 wire format (RFC 2131 §2, RFC 2132 options, RFC 3396 long options). Pure: bytes in,
 * a message out, and back. Addresses are unsigned 32-bit numbers (model/ipv4.ts), the client
 * hardware address a lower-case MAC string for Ethernet.
 */

const DHCP_MAGIC = 0x63825363
/** Fixed BOOTP header (236 bytes) plus the magic cookie. */
export const HEADER_BYTES = 240
/** The smallest message every client must accept (RFC 2131 §2: 576-byte IP datagrams). */
export const MIN_MAX_MESSAGE = 576 - 28

export const Op = { Request: 1, Reply: 2 } as const

export const MessageType = {
  Discover: 1, Offer: 2, Request: 3, Decline: 4, Ack: 5, Nak: 6, Release: 7, Inform: 8,
} as const
export type MessageTypeCode = (typeof MessageType)[keyof typeof MessageType]

export const Opt = {
  Pad: 0, SubnetMask: 1, Router: 3, DnsServers: 6, Hostname: 12, DomainName: 15, InterfaceMtu: 26,
  Broadcast: 28, NtpServers: 42, RequestedIp: 50, LeaseTime: 51, Overload: 52, MessageType: 53,
  ServerId: 54, ParameterList: 55, Message: 56, MaxMessageSize: 57, RenewalTime: 58, RebindingTime: 59,
  ClientId: 61, DomainSearch: 119, ClasslessRoutes: 121, MsClasslessRoutes: 249, End: 255,
} as const

/** Broadcast bit of the flags field: the client cannot receive unicast before it is configured. */
export const FLAG_BROADCAST = 0x8000

export interface DhcpMessage {
  /** 1 = request (client to server), 2 = reply. */
  op: number
  htype: number
  hlen: number
  hops: number
  xid: number
  secs: number
  flags: number
  ciaddr: number
  yiaddr: number
  siaddr: number
  giaddr: number
  /** The 16-byte chaddr field as received (only the first hlen bytes mean anything). */
  chaddr: Uint8Array
  /** Options by code, in the order first seen; a code split over several instances is joined. */
  options: Map<number, Uint8Array>
}

/**
 * The largest datagram read: a DHCP message fits an Ethernet frame (RFC 2131 lets clients ask for
 * more with option 57, but no client sends more than 1,500 bytes). Anything larger is an attack
 * on the decoder, dropped before its options are read.
 */
const MAX_DATAGRAM = 1500
/**
 * The most instances of one option joined (RFC 3396). A 1,500-byte message holds at most five
 * full 255-byte pieces; thousands of tiny ones only cost work.
 */
const MAX_OPTION_PIECES = 16

export class DhcpDecodeError extends Error {
  constructor(readonly code: 'ERR_DHCP_SHORT' | 'ERR_DHCP_MAGIC' | 'ERR_DHCP_OPTIONS' | 'ERR_DHCP_TOO_LARGE', message: string) {
    super(message)
  }
}

/** Collects the instances of each option in order; joined once at the end (joining per piece is quadratic). */
function readOptions(buf: Uint8Array, start: number, end: number, into: Map<number, Uint8Array[]>): void {
  let i = start
  while (i < end) {
    const code = buf[i] as number
    if (code === Opt.End) return
    if (code === Opt.Pad) { i++; continue }
    if (i + 1 >= end) throw new DhcpDecodeError('ERR_DHCP_OPTIONS', `option ${code} at byte ${i} has no length`)
    const len = buf[i + 1] as number
    if (i + 2 + len > end) throw new DhcpDecodeError('ERR_DHCP_OPTIONS', `option ${code} at byte ${i} runs past the end`)
    const value = buf.subarray(i + 2, i + 2 + len)
    const pieces = into.get(code)
    if (pieces === undefined) into.set(code, [value])
    else if (pieces.push(value) > MAX_OPTION_PIECES) throw new DhcpDecodeError('ERR_DHCP_OPTIONS', `option ${code} has more than ${MAX_OPTION_PIECES} instances`)
    i += 2 + len
  }
}

/** RFC 3396: the instances of one option are concatenated in order. */
function join(pieces: readonly Uint8Array[]): Uint8Array {
  if (pieces.length === 1) return pieces[0] as Uint8Array
  let length = 0
  for (const p of pieces) length += p.length
  const out = new Uint8Array(length)
  let at = 0
  for (const p of pieces) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** Pure. Throws DhcpDecodeError on anything that is not a well-formed DHCP message. */
export function decodeDhcp(buf: Uint8Array): DhcpMessage {
  if (buf.length < HEADER_BYTES) throw new DhcpDecodeError('ERR_DHCP_SHORT', `${buf.length} bytes, at least ${HEADER_BYTES} needed`)
  if (buf.length > MAX_DATAGRAM) throw new DhcpDecodeError('ERR_DHCP_TOO_LARGE', `${buf.length} bytes, at most ${MAX_DATAGRAM} accepted`)
  if (readU32(buf, 236) !== DHCP_MAGIC) throw new DhcpDecodeError('ERR_DHCP_MAGIC', 'no DHCP magic cookie (plain BOOTP)')
  const pieces = new Map<number, Uint8Array[]>()
  readOptions(buf, HEADER_BYTES, buf.length, pieces)
  // RFC 2132 §9.3: the file and sname fields may carry more options.
  const overload = pieces.get(Opt.Overload)?.[0]?.[0] ?? 0
  if (overload & 1) readOptions(buf, 108, 236, pieces)
  if (overload & 2) readOptions(buf, 44, 108, pieces)
  const options = new Map<number, Uint8Array>()
  for (const [code, list] of pieces) options.set(code, join(list))
  return {
    op: buf[0] as number,
    htype: buf[1] as number,
    hlen: buf[2] as number,
    hops: buf[3] as number,
    xid: readU32(buf, 4),
    secs: readU16(buf, 8),
    flags: readU16(buf, 10),
    ciaddr: readU32(buf, 12),
    yiaddr: readU32(buf, 16),
    siaddr: readU32(buf, 20),
    giaddr: readU32(buf, 24),
    chaddr: buf.slice(28, 44),
    options,
  }
}

/** Bytes an option list takes on the wire (values over 255 bytes split per RFC 3396). */
export function optionsLength(options: ReadonlyMap<number, Uint8Array>): number {
  let n = 0
  for (const value of options.values()) n += value.length === 0 ? 2 : value.length + 2 * Math.ceil(value.length / 255)
  return n + 1
}

/** Pure. The message as bytes: header, magic, options in map order, End. */
export function encodeDhcp(m: DhcpMessage): Uint8Array {
  // From Node's buffer pool (a reply is a few hundred bytes; thousands a second): only the
  // header is zeroed, the rest is written in full below.
  const buf: Uint8Array = Buffer.allocUnsafe(HEADER_BYTES + optionsLength(m.options))
  buf.fill(0, 0, HEADER_BYTES)
  buf[0] = m.op
  buf[1] = m.htype
  buf[2] = m.hlen
  buf[3] = m.hops
  writeU32(buf, 4, m.xid)
  writeU16(buf, 8, m.secs)
  writeU16(buf, 10, m.flags)
  writeU32(buf, 12, m.ciaddr)
  writeU32(buf, 16, m.yiaddr)
  writeU32(buf, 20, m.siaddr)
  writeU32(buf, 24, m.giaddr)
  buf.set(m.chaddr.length <= 16 ? m.chaddr : m.chaddr.subarray(0, 16), 28)
  writeU32(buf, 236, DHCP_MAGIC)
  let i = HEADER_BYTES
  for (const [code, value] of m.options) {
    if (value.length <= 255) {
      buf[i] = code
      buf[i + 1] = value.length
      buf.set(value, i + 2)
      i += 2 + value.length
      continue
    }
    let off = 0
    do {
      const len = Math.min(255, value.length - off)
      buf[i] = code
      buf[i + 1] = len
      buf.set(value.subarray(off, off + len), i + 2)
      i += 2 + len
      off += len
    } while (off < value.length)
  }
  buf[i] = Opt.End
  return buf
}

/** The client's MAC as `aa:bb:cc:dd:ee:ff`, or undefined when it is not a 6-byte Ethernet address. */
const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** Lower-case hex of a few bytes (a client identifier), without a Buffer per call. */
export function hexOf(bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.length; i++) s += HEX_BYTE[bytes[i] as number]
  return s
}

/** The client's Ethernet MAC as lower-case colon-separated hex (called per packet: a table, not toString). */
export function clientMac(m: DhcpMessage): string | undefined {
  if (m.htype !== 1 || m.hlen !== 6) return undefined
  const c = m.chaddr
  return `${HEX_BYTE[c[0] as number]}:${HEX_BYTE[c[1] as number]}:${HEX_BYTE[c[2] as number]}:${HEX_BYTE[c[3] as number]}:${HEX_BYTE[c[4] as number]}:${HEX_BYTE[c[5] as number]}`
}

export function messageType(m: DhcpMessage): number | undefined {
  const v = m.options.get(Opt.MessageType)
  return v?.length === 1 ? v[0] : undefined
}

export function optionAddress(m: DhcpMessage, code: number): number | undefined {
  const v = m.options.get(code)
  return v?.length === 4 ? readU32(v, 0) : undefined
}

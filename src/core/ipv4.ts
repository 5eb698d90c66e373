/**
 * Pure IPv4 arithmetic: parsing, CIDR containment and overlap. Addresses are unsigned 32-bit
 * numbers; every function here is total on its documented input and never throws.
 */

/**
 * Parses dotted-quad text to a number, or undefined if it is not exactly four decimal octets
 * (0-255, no leading zeros). A character loop: this runs for every item of a 10,000-item config.
 */
export function parseIpv4(text: string): number | undefined {
  let value = 0
  let octet = 0
  let digits = 0
  let dots = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 46) {
      if (digits === 0 || dots === 3) return undefined
      value = value * 256 + octet
      octet = 0
      digits = 0
      dots++
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return undefined
      octet = octet * 10 + (c - 48)
      digits++
      if (octet > 255) return undefined
    } else return undefined
  }
  if (digits === 0 || dots !== 3) return undefined
  return value * 256 + octet
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.')
}

export interface Cidr {
  /** The address as written (may have host bits set for an interface address). */
  address: number
  prefix: number
}

/** Parses `a.b.c.d/len` (or a bare address as /32), or undefined. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/')
  const addressText = slash === -1 ? text : text.slice(0, slash)
  const prefixText = slash === -1 ? '32' : text.slice(slash + 1)
  if (!/^(3[0-2]|[12]?\d)$/.test(prefixText)) return undefined
  const address = parseIpv4(addressText)
  if (address === undefined) return undefined
  return { address, prefix: Number(prefixText) }
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

export function networkOf(cidr: Cidr): number {
  return (cidr.address & maskOf(cidr.prefix)) >>> 0
}

export function broadcastOf(cidr: Cidr): number {
  return (networkOf(cidr) | (~maskOf(cidr.prefix) >>> 0)) >>> 0
}

export function hasHostBits(cidr: Cidr): boolean {
  return networkOf(cidr) !== cidr.address
}

export function cidrContains(outer: Cidr, address: number): boolean {
  return ((address & maskOf(outer.prefix)) >>> 0) === networkOf(outer)
}

/** An address a host may hold in the network: inside it, and not its network or broadcast address (below /31). */
export function usableHost(cidr: Cidr, address: number): boolean {
  return cidrContains(cidr, address) && (cidr.prefix >= 31 || (address !== networkOf(cidr) && address !== broadcastOf(cidr)))
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const prefix = Math.min(a.prefix, b.prefix)
  return ((a.address & maskOf(prefix)) >>> 0) === ((b.address & maskOf(prefix)) >>> 0)
}

/** Canonical text of a network CIDR (host bits cleared). */
export function formatNetwork(cidr: Cidr): string {
  return `${formatIpv4(networkOf(cidr))}/${cidr.prefix}`
}

/** Address blocks no router interface, gateway or route target may use (RFC 6890). */
const RESERVED_BLOCKS: readonly { cidr: Cidr; kind: string }[] = [
  { cidr: { address: 0x00000000, prefix: 8 }, kind: 'unspecified ("this network", 0.0.0.0/8)' },
  { cidr: { address: 0x7f000000, prefix: 8 }, kind: 'loopback (127.0.0.0/8)' },
  { cidr: { address: 0xa9fe0000, prefix: 16 }, kind: 'link-local (169.254.0.0/16)' },
  { cidr: { address: 0xe0000000, prefix: 4 }, kind: 'multicast (224.0.0.0/4)' },
  { cidr: { address: 0xf0000000, prefix: 4 }, kind: 'reserved or broadcast (240.0.0.0/4)' },
]

/** Pure. Which reserved block an address is in (e.g. "loopback (127.0.0.0/8)"), or undefined for an ordinary unicast address. */
export function reservedKind(address: number): string | undefined {
  for (const block of RESERVED_BLOCKS) if (cidrContains(block.cidr, address)) return block.kind
  return undefined
}

/** Pure. The reserved block a network overlaps, or undefined. */
export function reservedOverlap(cidr: Cidr): string | undefined {
  for (const block of RESERVED_BLOCKS) if (cidrsOverlap(block.cidr, cidr)) return block.kind
  return undefined
}

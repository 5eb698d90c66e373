/**
 * Pure IPv4 arithmetic: parsing, CIDR containment and overlap. Addresses are unsigned 32-bit
 * numbers; every function here is total on its documented input and never throws.
 */

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/

/** Parses dotted-quad text to a number, or undefined if it is not exactly four decimal octets. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  let value = 0
  for (const part of parts) {
    if (!OCTET.test(part)) return undefined
    value = value * 256 + Number(part)
  }
  return value
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

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const prefix = Math.min(a.prefix, b.prefix)
  return ((a.address & maskOf(prefix)) >>> 0) === ((b.address & maskOf(prefix)) >>> 0)
}

/** Canonical text of a network CIDR (host bits cleared). */
export function formatNetwork(cidr: Cidr): string {
  return `${formatIpv4(networkOf(cidr))}/${cidr.prefix}`
}

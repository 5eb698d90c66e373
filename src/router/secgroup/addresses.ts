import { isIPv6 } from 'node:net'
import { formatNetwork, hasHostBits, parseCidr } from '../../core/ipv4.ts'

/** The address arithmetic the security groups need beyond core/ipv4.ts: IPv6 networks, EUI-64. Pure. */

/** An IPv6 address as a 128-bit integer, or undefined. */
export function parseIpv6(text: string): bigint | undefined {
  if (!isIPv6(text) || text.includes('.') || text.includes('%')) return undefined
  const [head = '', tail] = text.split('::') as [string, string | undefined]
  const words = (s: string) => (s === '' ? [] : s.split(':').map((w) => Number.parseInt(w, 16)))
  const left = words(head)
  const right = tail === undefined ? [] : words(tail)
  const all = tail === undefined ? left : [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right]
  return all.reduce((acc, w) => (acc << 16n) | BigInt(w), 0n)
}

export function formatIpv6(value: bigint): string {
  const words = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn))
  // The longest run of zero words (two or more) becomes "::" (RFC 5952).
  let best = { at: -1, len: 1 }
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > best.len) best = { at: i, len: j - i }
    i = j
  }
  const hex = words.map((w) => w.toString(16))
  if (best.at < 0) return hex.join(':')
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`
}

export type PeerNetwork = { family: 4 | 6; cidr: string }

/** A peer network in canonical text with its family, or why it is none (ERR_BAD_CIDR's message). */
export function parsePeerCidr(text: string): PeerNetwork | { problem: string } {
  if (!text.includes('/')) return { problem: `"${text}" is not a network in CIDR notation` }
  if (!text.includes(':')) {
    const cidr = parseCidr(text)
    if (cidr === undefined) return { problem: `"${text}" is not an IPv4 or IPv6 network` }
    if (hasHostBits(cidr)) return { problem: `"${text}" has host bits set; the network is ${formatNetwork(cidr)}` }
    return { family: 4, cidr: formatNetwork(cidr) }
  }
  const [address = '', prefixText = ''] = text.split('/')
  const value = parseIpv6(address)
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : -1
  if (value === undefined || prefix < 0 || prefix > 128) return { problem: `"${text}" is not an IPv4 or IPv6 network` }
  const host = prefix === 128 ? 0n : (1n << BigInt(128 - prefix)) - 1n
  if ((value & host) !== 0n) return { problem: `"${text}" has host bits set; the network is ${formatIpv6(value & ~host)}/${prefix}` }
  return { family: 6, cidr: `${formatIpv6(value)}/${prefix}` }
}

/** The EUI-64 link-local address a MAC gives (fe80::, the universal/local bit flipped, ff:fe inserted). */
export function linkLocalOf(mac: string): string {
  const b = mac.toLowerCase().split(':').map((h) => Number.parseInt(h, 16))
  const bytes = [(b[0] ?? 0) ^ 0x02, b[1] ?? 0, b[2] ?? 0, 0xff, 0xfe, b[3] ?? 0, b[4] ?? 0, b[5] ?? 0]
  const interfaceId = bytes.reduce((acc, x) => (acc << 8n) | BigInt(x), 0n)
  return formatIpv6((0xfe80n << 112n) | interfaceId)
}

import { writeU16, writeU32 } from '../../../core/bytes.ts'

/**
 * Encoders for DHCP option values. Pure; each returns the value bytes only (the codec adds code
 * and length and splits values over 255 bytes).
 */

export function addressList(addresses: readonly number[]): Uint8Array {
  const out = new Uint8Array(addresses.length * 4)
  addresses.forEach((a, i) => writeU32(out, i * 4, a))
  return out
}

export function u32Value(value: number): Uint8Array {
  return addressList([value])
}

export function u16Value(value: number): Uint8Array {
  const out = new Uint8Array(2)
  writeU16(out, 0, value)
  return out
}

/** ASCII text (host and domain names are ASCII by schema), from Node's buffer pool. */
export function textValue(text: string): Uint8Array {
  return Buffer.from(text, 'latin1')
}

export interface ClasslessRoute { destination: number; prefix: number; gateway: number }

/**
 * RFC 3442: per route the prefix length, the destination's significant octets only, then the
 * router. (The `dhcp` npm package writes all four destination octets; clients then read garbage.)
 * @example classlessRoutes([{ destination: 0x0a000000, prefix: 8, gateway: 0x0a010101 }]) // 08 0a 0a 01 01 01
 */
export function classlessRoutes(routes: readonly ClasslessRoute[]): Uint8Array {
  let length = 0
  for (const r of routes) length += 1 + Math.ceil(r.prefix / 8) + 4
  const out = new Uint8Array(length)
  let at = 0
  for (const r of routes) {
    out[at++] = r.prefix
    const significant = Math.ceil(r.prefix / 8)
    for (let i = 0; i < significant; i++) out[at++] = (r.destination >>> (24 - 8 * i)) & 255
    writeU32(out, at, r.gateway)
    at += 4
  }
  return out
}

/**
 * RFC 3397: the names as one block of RFC 1035 wire names, later names pointing at suffixes
 * already written (compression pointers are offsets into the joined option value).
 * @example domainSearch(['a.example.com', 'example.com']) // 1a 7example 3com 0, c0 02
 */
export function domainSearch(names: readonly string[]): Uint8Array {
  const bytes: number[] = []
  const written = new Map<string, number>()
  for (const name of names) {
    const labels = name.replace(/\.$/, '').split('.').filter((l) => l !== '')
    let i = 0
    for (; i < labels.length; i++) {
      const suffix = labels.slice(i).join('.').toLowerCase()
      const at = written.get(suffix)
      if (at !== undefined) {
        bytes.push(0xc0 | (at >>> 8), at & 255)
        break
      }
      if (bytes.length < 0x3fff) written.set(suffix, bytes.length)
      const label = labels[i] as string
      bytes.push(label.length)
      for (const c of label) bytes.push(c.charCodeAt(0) & 255)
    }
    if (i === labels.length) bytes.push(0)
  }
  return Uint8Array.from(bytes)
}

/**
 * Encoders for DHCP option values. Pure; each returns the value bytes only (the codec adds code
 * and length and splits values over 255 bytes).
 */

export function addressList(addresses: readonly number[]): Uint8Array {
  const out = new Uint8Array(addresses.length * 4)
  addresses.forEach((a, i) => putAddress(out, i * 4, a))
  return out
}

export function u32Value(value: number): Uint8Array {
  return addressList([value])
}

export function u16Value(value: number): Uint8Array {
  return Uint8Array.of(value >>> 8, value & 255)
}

/** ASCII text (host and domain names are ASCII by schema), from Node's buffer pool. */
export function textValue(text: string): Uint8Array {
  return Buffer.from(text, 'latin1')
}

function putAddress(out: Uint8Array, at: number, a: number): void {
  out[at] = a >>> 24
  out[at + 1] = (a >>> 16) & 255
  out[at + 2] = (a >>> 8) & 255
  out[at + 3] = a & 255
}

export interface ClasslessRoute { destination: number; prefix: number; gateway: number }

/**
 * RFC 3442: per route the prefix length, the destination's significant octets only, then the
 * router. (The `dhcp` npm package writes all four destination octets; clients then read garbage.)
 * @example classlessRoutes([{ destination: 0x0a000000, prefix: 8, gateway: 0x0a010101 }]) // 08 0a 0a 01 01 01
 */
export function classlessRoutes(routes: readonly ClasslessRoute[]): Uint8Array {
  const bytes: number[] = []
  for (const r of routes) {
    bytes.push(r.prefix)
    const significant = Math.ceil(r.prefix / 8)
    for (let i = 0; i < significant; i++) bytes.push((r.destination >>> (24 - 8 * i)) & 255)
    bytes.push(r.gateway >>> 24, (r.gateway >>> 16) & 255, (r.gateway >>> 8) & 255, r.gateway & 255)
  }
  return Uint8Array.from(bytes)
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

/**
 * Big-endian (network order) integers in byte arrays: the header fields of DHCP and DNS
 * messages. Plain index arithmetic on the array given (no DataView, no Buffer per call): these
 * run several times per packet and are small enough for V8 to inline. No bounds checks; the
 * callers check lengths first (a read past the end counts the missing bytes as 0).
 */

/** Pure. The unsigned 16-bit number at `at`. */
export function readU16(buf: Uint8Array, at: number): number {
  return ((buf[at] as number) << 8) | (buf[at + 1] as number)
}

/** Pure. The unsigned 32-bit number at `at`. */
export function readU32(buf: Uint8Array, at: number): number {
  return (((buf[at] as number) << 24) | ((buf[at + 1] as number) << 16) | ((buf[at + 2] as number) << 8) | (buf[at + 3] as number)) >>> 0
}

/** Writes the low 16 bits of `value` at `at`. */
export function writeU16(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 8
  buf[at + 1] = value & 255
}

/** Writes `value` (an unsigned 32-bit number) at `at`. */
export function writeU32(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 24
  buf[at + 1] = (value >>> 16) & 255
  buf[at + 2] = (value >>> 8) & 255
  buf[at + 3] = value & 255
}

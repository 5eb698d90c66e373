import { describe, expect, it } from 'vitest'
import { readU16, readU32, writeU16, writeU32 } from '../../../src/core/bytes.ts'

describe('bytes: big-endian integers', () => {
  it.each([
    { name: 'zero', value: 0 },
    { name: 'the high bit set stays unsigned', value: 0xfedcba98 },
    { name: 'all ones', value: 0xffffffff },
  ])('u32 $name: written most significant byte first, read back the same', ({ value }) => {
    const buf = new Uint8Array(6)
    writeU32(buf, 1, value)
    expect([...buf]).toEqual([0, value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255, 0])
    expect(readU32(buf, 1)).toBe(value)
  })

  it('u16: written most significant byte first, read back the same; only the low 16 bits are written', () => {
    const buf = new Uint8Array(3)
    writeU16(buf, 1, 0xbeef)
    expect([...buf]).toEqual([0, 0xbe, 0xef])
    expect(readU16(buf, 1)).toBe(0xbeef)
    writeU16(buf, 0, -1)
    expect(readU16(buf, 0)).toBe(0xffff)
  })

  it('a read past the end counts the missing bytes as 0 (callers check lengths first)', () => {
    expect(readU16(Uint8Array.of(1), 0)).toBe(0x100)
    expect(readU32(Uint8Array.of(1, 2), 0)).toBe(0x01020000)
  })
})

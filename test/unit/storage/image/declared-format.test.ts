import { describe, expect, it } from 'vitest'
import { errorCode } from '../../../../src/core/errors.ts'
import { checkDeclaredFormat, declaredFormatMatches, parseDeclaredFormat, type DeclaredFormat } from '../../../../src/storage/image/declared-format.ts'
import type { ImageFormat } from '../../../../src/storage/image/detect.ts'

const codeOf = (f: () => unknown): string | undefined => {
  try { f() } catch (err) { return errorCode(err) }
  return undefined
}

describe('declared format against detected format', () => {
  const DETECTED: ImageFormat[] = ['qcow2', 'vhd', 'vmdk', 'iso', 'ova', 'tar', 'raw']
  const cases: { name: string; declared: DeclaredFormat; accepts: ImageFormat[] }[] = [
    { name: 'qcow2 is qcow2 only', declared: 'qcow2', accepts: ['qcow2'] },
    { name: 'vhd is vhd only', declared: 'vhd', accepts: ['vhd'] },
    { name: 'vmdk is vmdk only', declared: 'vmdk', accepts: ['vmdk'] },
    { name: 'iso is iso only', declared: 'iso', accepts: ['iso'] },
    { name: 'ova needs the .ovf first', declared: 'ova', accepts: ['ova'] },
    { name: 'tar accepts an ova (an ova is a tar)', declared: 'tar', accepts: ['ova', 'tar'] },
    { name: 'raw is raw only (stricter than CloudStack)', declared: 'raw', accepts: ['raw'] },
    { name: 'img is raw', declared: 'img', accepts: ['raw'] },
  ]
  for (const c of cases) {
    it(c.name, () => {
      expect(DETECTED.filter((d) => declaredFormatMatches(c.declared, d))).toEqual(c.accepts)
      for (const d of DETECTED) {
        expect(codeOf(() => checkDeclaredFormat(c.declared, d)), `${c.declared} vs ${d}`).toBe(c.accepts.includes(d) ? undefined : 'ERR_FORMAT_MISMATCH')
      }
    })
  }

  it('the mismatch says both formats', () => {
    expect(() => checkDeclaredFormat('qcow2', 'vhd')).toThrow('declared qcow2 but the image is vhd')
  })

  it('parses CloudStack format names in any case; VHDX and unknown names are unsupported', () => {
    expect(parseDeclaredFormat('QCOW2')).toBe('qcow2')
    expect(parseDeclaredFormat(' Img ')).toBe('img')
    expect(codeOf(() => parseDeclaredFormat('VHDX'))).toBe('ERR_FORMAT_UNSUPPORTED')
    expect(() => parseDeclaredFormat('vhdx')).toThrow(/VHDX/)
    expect(codeOf(() => parseDeclaredFormat('BAREMETAL'))).toBe('ERR_FORMAT_UNSUPPORTED')
  })
})

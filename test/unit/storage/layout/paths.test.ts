import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { checkEntityId, checkFileName, checkUuid } from '../../../../src/storage/layout/identifiers.ts'
import { javaNameUuid } from '../../../../src/storage/layout/name-uuid.ts'
import {
  downloadTempName, installFileName, isDownloadTempName, javaHostAddress, mountDirectoryName, mountIdentity, mountPointFor,
  snapshotDir, templateInstallDir, volumeInstallDir,
} from '../../../../src/storage/layout/paths.ts'

/**
 * UUID.nameUUIDFromBytes written straight from its definition, independently of the module:
 * MD5 → 128-bit number, clear the version nibble and set 3, clear the two variant bits and
 * set 10, print as 8-4-4-4-12 lower-case hex.
 */
function referenceNameUuid(text: string): string {
  let n = BigInt(`0x${createHash('md5').update(text, 'utf8').digest('hex')}`)
  n = (n & ~(0xfn << 76n)) | (0x3n << 76n)
  n = (n & ~(0x3n << 62n)) | (0x2n << 62n)
  const hex = n.toString(16).padStart(32, '0')
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join('-')
}

describe('javaNameUuid (UUID.nameUUIDFromBytes)', () => {
  it('matches values printed by Java 17', () => {
    expect(javaNameUuid('10.1.1.5:/export/secondary')).toBe('665d3814-9fdc-3bca-8727-7c2d56b42bd1')
    expect(javaNameUuid('nfs.example:/x/')).toBe('0ca39fb0-2d1b-38ec-8bdb-f4cd32b8e4f6')
    expect(javaNameUuid('fd00:0:0:0:0:0:0:5:/export')).toBe('1051d529-10fa-3026-8355-c5239c618bdb')
  })

  it('matches the definition for many strings, bytes and strings alike', () => {
    for (const s of ['', 'a', '10.0.0.1:/', 'ünï€😀:/exp ort', 'x'.repeat(1000)]) {
      expect(javaNameUuid(s)).toBe(referenceNameUuid(s))
      expect(javaNameUuid(Buffer.from(s, 'utf8'))).toBe(referenceNameUuid(s))
    }
  })
})

describe('mount point', () => {
  it('hashes "<ip>:<export path>" with the leading slash, as NfsSecondaryStorageResource.mountUri does', () => {
    const [host, exportPath] = ['10.1.1.5', '/export/secondary']
    expect(mountIdentity(host, exportPath)).toBe('10.1.1.5:/export/secondary')
    expect(mountDirectoryName(host, exportPath)).toBe(referenceNameUuid('10.1.1.5:/export/secondary'))
    expect(mountPointFor(host, exportPath)).toBe(`/mnt/SecStorage/${referenceNameUuid('10.1.1.5:/export/secondary')}`)
    expect(mountPointFor(host, exportPath, '/tmp/ss')).toBe(`/tmp/ss/${referenceNameUuid('10.1.1.5:/export/secondary')}`)
  })

  it('keeps a trailing slash (a different store directory, as in CloudStack)', () => {
    expect(mountDirectoryName('10.1.1.5', '/export/secondary/')).not.toBe(mountDirectoryName('10.1.1.5', '/export/secondary'))
  })

  it.each([
    ['10.1.1.5', '10.1.1.5'],
    ['fd00::5', 'fd00:0:0:0:0:0:0:5'],
    ['FD00:0DB8::0001', 'fd00:db8:0:0:0:0:0:1'],
    ['::', '0:0:0:0:0:0:0:0'],
    ['1::', '1:0:0:0:0:0:0:0'],
    ['::ffff:10.1.1.5', '10.1.1.5'],
    ['64:ff9b::10.1.1.5', '64:ff9b:0:0:0:0:a01:105'],
  ])('prints %s as Java getHostAddress does: %s', (ip, want) => {
    expect(javaHostAddress(ip)).toBe(want)
  })

  it('hashes an IPv6 store with Java\'s uncompressed address (value printed by Java 17)', () => {
    expect(mountDirectoryName('fd00::5', '/export')).toBe('1051d529-10fa-3026-8355-c5239c618bdb')
  })

  it.each(['nfs.example', 'fe80::1%eth0', '10.1.1'])('refuses a host that is not a literal address: %s', (ip) => {
    expect(() => javaHostAddress(ip)).toThrow(expect.objectContaining({ code: 'ERR_BAD_STORE_URL' }))
  })
})

describe('install directories', () => {
  it('lays out templates, volumes and snapshots as CloudStack does', () => {
    expect(templateInstallDir(2, 205)).toBe('template/tmpl/2/205')
    expect(templateInstallDir('1', 3n)).toBe('template/tmpl/1/3')
    expect(volumeInstallDir(2, '88')).toBe('volumes/2/88')
    expect(snapshotDir(2, 88)).toBe('snapshots/2/88')
  })

  it.each([0, -1, 1.5, '01', '1e3', ' 1', '../1', '9223372036854775808', 2n ** 63n, null, undefined, Number.MAX_SAFE_INTEGER + 1])(
    'refuses id %s (ERR_BAD_ID)', (id) => {
      expect(() => templateInstallDir(2, id)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ID' }))
    })

  it('takes the largest Java long', () => {
    expect(checkEntityId('9223372036854775807', 'id')).toBe('9223372036854775807')
  })
})

describe('install file name', () => {
  it('is nameUUIDFromBytes(name + start ms) + .ext for disk images', () => {
    const name = installFileName({ name: '205-2-8a3f1b7c-ubuntu-22.04', format: 'qcow2', startedAtMs: 1709647402123 })
    expect(name).toBe(`${referenceNameUuid('205-2-8a3f1b7c-ubuntu-22.04' + '1709647402123')}.qcow2`)
  })

  it('is deterministic in its inputs and changes with the start time', () => {
    const a = { name: 'n', format: 'vhd', startedAtMs: 1 } as const
    expect(installFileName(a)).toBe(installFileName({ ...a }))
    expect(installFileName(a)).not.toBe(installFileName({ ...a, startedAtMs: 2 }))
  })

  it('keeps an ISO\'s name, trimmed as Java trims, spaces to underscores', () => {
    expect(installFileName({ name: '\t Debian 12  netinst \n', format: 'iso', startedAtMs: 5 })).toBe('Debian_12__netinst.iso')
  })

  it.each([
    ['an empty name', { name: '', format: 'qcow2', startedAtMs: 0 }],
    ['an ISO name with a slash', { name: '../../etc/passwd', format: 'iso', startedAtMs: 0 }],
    ['an ISO name that trims to nothing', { name: '   ', format: 'iso', startedAtMs: 0 }],
    ['an ISO name with a control character', { name: 'a\u0000b', format: 'iso', startedAtMs: 0 }],
    ['an ISO name too long for a file', { name: 'x'.repeat(252), format: 'iso', startedAtMs: 0 }],
    ['a negative start time', { name: 'n', format: 'qcow2', startedAtMs: -1 }],
  ] as const)('refuses %s (ERR_BAD_NAME)', (_what, input) => {
    expect(() => installFileName(input)).toThrow(expect.objectContaining({ code: 'ERR_BAD_NAME' }))
  })
})

describe('names and uuids', () => {
  it.each(['', '.', '..', 'a/b', 'a\\b', 'nul\u0000', 'bell\u0007', 'del\u007f', 'é'.repeat(128)])('checkFileName refuses %j', (name) => {
    expect(() => checkFileName(name, 'name')).toThrow(expect.objectContaining({ code: 'ERR_BAD_NAME' }))
  })

  it('checkFileName takes ordinary names, spaces and non-ASCII included', () => {
    for (const name of ['a.qcow2', 'Debian 12.iso', '...', 'ünï.iso', 'é'.repeat(127)]) expect(checkFileName(name, 'name')).toBe(name)
  })

  it('checkUuid takes Java UUID text and refuses the rest', () => {
    expect(checkUuid('665d3814-9fdc-3bca-8727-7c2d56b42bd1', 'uuid')).toBe('665d3814-9fdc-3bca-8727-7c2d56b42bd1')
    for (const bad of ['665d3814-9fdc-3bca-8727-7c2d56b42bd', '665d3814/9fdc-3bca-8727-7c2d56b42bd1', 42]) {
      expect(() => checkUuid(bad, 'uuid')).toThrow(expect.objectContaining({ code: 'ERR_BAD_ID' }))
    }
  })
})

describe('download temp name', () => {
  it('is dnld<unsigned 64-bit decimal>tmp_, like File.createTempFile("dnld", "tmp_")', () => {
    expect(downloadTempName(new Uint8Array(8))).toBe('dnld0tmp_')
    expect(downloadTempName(new Uint8Array(8).fill(0xff))).toBe('dnld18446744073709551615tmp_')
    expect(downloadTempName(Uint8Array.of(0, 0, 0, 0, 0, 0, 1, 2))).toBe('dnld258tmp_')
  })

  it('is recognised, and other names are not', () => {
    expect(isDownloadTempName(downloadTempName(Uint8Array.of(9, 8, 7, 6, 5, 4, 3, 2)))).toBe(true)
    for (const name of ['dnldtmp_', 'dnld12tmp', 'xdnld12tmp_', 'dnld-1tmp_', 'template.properties']) expect(isDownloadTempName(name)).toBe(false)
  })

  it('refuses anything but 8 random bytes', () => {
    expect(() => downloadTempName(new Uint8Array(4))).toThrow()
  })
})

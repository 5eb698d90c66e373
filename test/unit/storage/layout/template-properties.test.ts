import { readFileSync, writeFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  propertiesFileName, readInstallProperties, renderInstallProperties, type InstallRecord,
} from '../../../../src/storage/layout/template-properties.ts'

const fixture = (name: string): URL => new URL(`fixtures/${name}`, import.meta.url)
const readFixture = (name: string): string => readFileSync(fixture(name)).toString('latin1')

const ubuntu: InstallRecord = {
  kind: 'template',
  id: 205,
  filename: '5e8f2b6a-3c1d-3f0e-9a7b-1c2d3e4f5a6b.qcow2',
  description: 'Ubuntu 22.04 LTS',
  hvm: true,
  public: true,
  size: 679804928,
  virtualSize: 10737418240,
  format: 'qcow2',
  uniqueName: '205-2-8a3f1b7c-ubuntu-22.04',
}

const debianIso: InstallRecord = {
  kind: 'template',
  id: 7,
  filename: 'Debian_12_netinst.iso',
  description: ' Debian 12: netinst #1 = "ünï" C:\\ISO\\\tx',
  hvm: false,
  public: false,
  size: 658505728,
  virtualSize: 658505728,
  format: 'iso',
  uniqueName: '7-2-debian-12 netinst',
}

describe('renderInstallProperties: golden files, byte for byte', () => {
  const goldens: { name: string; record: InstallRecord; writtenAt: Date | null; file: string }[] = [
    { name: 'a qcow2 template with the #date line', record: ubuntu, writtenAt: new Date(Date.UTC(2024, 2, 5, 14, 3, 22)), file: 'expected-template.properties' },
    { name: 'an ISO with a description full of characters to escape, no date line', record: debianIso, writtenAt: null, file: 'expected-iso.properties' },
  ]
  it.each(goldens)('$name', ({ record, writtenAt, file }) => {
    const text = renderInstallProperties(record, { writtenAt })
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(fixture(file), text, 'latin1')
    else expect(text, `${file}: review, then UPDATE_GOLDEN=1`).toBe(readFixture(file))
  })

  it('writes the same properties as CloudStack (Java 17 store), only the key order differs', () => {
    const ours = renderInstallProperties(ubuntu, { writtenAt: new Date(Date.UTC(2024, 2, 5, 14, 3, 22)) }).split('\n')
    const theirs = readFixture('cloudstack-template.properties').split('\n')
    expect(ours.slice(0, 2)).toEqual(theirs.slice(0, 2))
    expect(ours.slice(2).sort()).toEqual(theirs.slice(2).sort())
  })

  it('adds checksum= to volume.properties, as createvolume.sh does', () => {
    const text = renderInstallProperties({ ...ubuntu, kind: 'volume' }, { writtenAt: null })
    expect(text).toContain('\nchecksum=\n')
    expect(renderInstallProperties({ ...ubuntu, kind: 'volume', checksum: '{SHA-256}ab' }, { writtenAt: null })).toContain('\nchecksum={SHA-256}ab\n')
  })

  it.each([
    ['a zero size', { size: 0 }, 'ERR_BAD_INSTALL_RECORD'],
    ['a fractional virtual size', { virtualSize: 1.5 }, 'ERR_BAD_INSTALL_RECORD'],
    ['an unknown format', { format: 'exe' as 'qcow2' }, 'ERR_BAD_INSTALL_RECORD'],
    ['a file name with a slash', { filename: '../x.qcow2' }, 'ERR_BAD_NAME'],
    ['id 0', { id: 0 }, 'ERR_BAD_ID'],
    ['a checksum on a template', { checksum: 'x' }, 'ERR_BAD_INSTALL_RECORD'],
  ] as const)('refuses a record with %s', (_what, change, code) => {
    expect(() => renderInstallProperties({ ...ubuntu, ...change }, { writtenAt: null })).toThrow(expect.objectContaining({ code }))
  })
})

describe('readInstallProperties: CloudStack\'s loading rule', () => {
  it('reads a template.properties as CloudStack writes it (comment lines, hash key order, hvm=true)', () => {
    expect(readInstallProperties(readFixture('cloudstack-template.properties'), 'template')).toEqual({ installed: true, record: ubuntu })
  })

  it('reads a volume.properties with its empty checksum', () => {
    expect(readInstallProperties(readFixture('cloudstack-volume.properties'), 'volume')).toEqual({
      installed: true,
      record: {
        kind: 'volume', id: 88, filename: '0b6c9d3e-7f41-3a2b-8c5d-9e0f1a2b3c4d.qcow2', description: 'data disk', hvm: false, public: true,
        size: 1073872896, virtualSize: 5368709120, format: 'qcow2', uniqueName: 'ROOT-52-data', checksum: '',
      },
    })
  })

  it('reads back what it writes', () => {
    for (const record of [ubuntu, debianIso, { ...ubuntu, kind: 'volume', checksum: 'abc' } as InstallRecord]) {
      expect(readInstallProperties(renderInstallProperties(record, { writtenAt: new Date(0) }), record.kind)).toEqual({ installed: true, record })
    }
  })

  it('answers not installed for a file createtmplt.sh wrote but the install never finished', () => {
    expect(readInstallProperties(readFixture('createtmplt-only.properties'), 'template')).toMatchObject({ installed: false, reason: 'no-uniquename' })
    expect(readInstallProperties('', 'template')).toMatchObject({ installed: false, reason: 'no-uniquename' })
  })

  const full = readFixture('cloudstack-template.properties')
  const without = (key: string): string => full.split('\n').filter((l) => !l.startsWith(`${key}=`)).join('\n')
  const replace = (key: string, value: string): string => full.replace(new RegExp(`^${key.replace('.', '\\.')}=.*$`, 'm'), `${key}=${value}`)
  it.each([
    { name: 'no virtualsize', text: without('virtualsize'), reason: 'no-virtualsize' },
    { name: 'no format key', text: without('qcow2'), reason: 'no-format' },
    { name: 'a format key without its filename', text: without('qcow2.filename'), reason: 'no-format' },
    { name: 'a format block with size 0 (CloudStack: corrupted)', text: replace('qcow2.size', '0'), reason: 'corrupt-format' },
    { name: 'a format block without virtual size', text: without('qcow2.virtualsize'), reason: 'corrupt-format' },
    { name: 'a format block with a non-numeric size', text: replace('qcow2.size', '12GB'), reason: 'corrupt-format' },
    { name: 'no id', text: without('id'), reason: 'no-id' },
  ])('answers not installed, with the reason, for $name', ({ text, reason }) => {
    const got = readInstallProperties(text, 'template')
    expect(got).toMatchObject({ installed: false, reason })
    expect(got.installed === false && got.message.length > 0).toBe(true)
  })

  it('takes the first valid format block in CloudStack\'s enum order', () => {
    const text = `${full}vhd=true\nvhd.filename=x.vhd\nvhd.size=5\nvhd.virtualsize=6\nraw=true\nraw.filename=y.raw\nraw.size=0\nraw.virtualsize=0\n`
    const got = readInstallProperties(text, 'template')
    expect(got.installed && got.record.format).toBe('qcow2')
    const onlyVhd = readInstallProperties(text.replace('qcow2=true\n', ''), 'template')
    expect(onlyVhd.installed && onlyVhd.record.format).toBe('vhd')
  })

  it('reads hvm and public as Boolean.parseBoolean does', () => {
    const got = readInstallProperties(replace('hvm', 'TRUE').replace('public=true', 'public=yes'), 'template')
    expect(got.installed && [got.record.hvm, got.record.public]).toEqual([true, false])
  })

  it('names the file by kind', () => {
    expect([propertiesFileName('template'), propertiesFileName('volume')]).toEqual(['template.properties', 'volume.properties'])
  })
})

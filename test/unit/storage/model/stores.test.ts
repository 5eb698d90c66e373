import { describe, expect, it } from 'vitest'
import { checkStorageConfig } from '../../../../src/storage/model/check.ts'
import { storeLocation } from '../../../../src/storage/model/store-url.ts'
import { CLOUDSTACK_NFS_OPTIONS, nfsMountArgs } from '../../../../src/storage/stores/drivers/nfs.ts'
import { mountPoints } from '../../../../src/storage/stores/mounts.ts'

describe('storeLocation', () => {
  it.each([
    ['nfs://10.1.1.5/export/secondary', { driver: 'nfs', host: '10.1.1.5', exportPath: '/export/secondary', uriPath: '/export/secondary' }],
    ['NFS://nfs.example/x/', { driver: 'nfs', host: 'nfs.example', exportPath: '/x', uriPath: '/x/' }],
    ['nfs://[fd00::5]/export', { driver: 'nfs', host: 'fd00::5', exportPath: '/export', uriPath: '/export' }],
    ['nfs://10.1.1.5/with%20space', { driver: 'nfs', host: '10.1.1.5', exportPath: '/with space', uriPath: '/with space' }],
    ['file:///srv/store', { driver: 'path', path: '/srv/store' }],
    ['file:///srv//store/', { driver: 'path', path: '/srv/store' }],
  ])('%s', (url, want) => {
    expect(storeLocation(url)).toEqual(want)
  })

  it.each([
    ['not a url', 'is not a URL'],
    ['http://10.1.1.5/x', 'has scheme "http": nfs:// and file:// are supported'],
    ['nfs:///x', 'names no NFS server'],
    ['nfs://10.1.1.5:2049/x', 'names a port (NFS ports are found by the client)'],
    ['nfs://10.1.1.5/', 'names no export path'],
    ['nfs://10.1.1.5/%zz', 'has a bad percent-encoding in its path'],
    ['nfs://10.1.1.5/a/%2e%2e/etc', 'has a "." or ".." segment in its path'],
    ['nfs://10.1.1.5/a%00b', 'has a NUL byte in its path'],
    ['nfs://u:p@10.1.1.5/x', 'has credentials'],
    ['nfs://10.1.1.5/x?y=1', 'has a query or fragment'],
    ['file://host/x', 'file URLs name a local directory: file:///dir'],
    ['file:///', 'names the root directory'],
  ])('refuses %s', (url, why) => {
    expect(storeLocation(url)).toBe(why)
  })
})

describe('checkStorageConfig', () => {
  it('accepts a valid document', () => {
    expect(checkStorageConfig({ stores: [{ id: 'a', url: 'nfs://10.0.0.1/x', nfsVersion: '3' }, { id: 'b', url: 'file:///srv/b' }] })).toEqual([])
  })

  it('lists every problem with its path', () => {
    const problems = checkStorageConfig({
      stores: [
        { id: 'a', url: 'nfs://10.0.0.1/x' },
        { id: 'a', url: 'nfs://10.0.0.1/x/' },
        { id: 'c', url: 'ftp://x/y' },
        { id: 'd', url: 'file:///srv/d', nfsVersion: '4', mountOptions: ['ro'] },
      ],
    })
    expect(problems.map((p) => [p.path, p.code])).toEqual([
      ['/stores/1/id', 'ERR_DUPLICATE_ID'],
      ['/stores/1/url', 'ERR_DUPLICATE_STORE'],
      ['/stores/2/url', 'ERR_BAD_STORE_URL'],
      ['/stores/3/nfsVersion', 'ERR_STORE_OPTION'],
      ['/stores/3/mountOptions', 'ERR_STORE_OPTION'],
    ])
  })

  it('reports schema problems (unknown fields, bad ids, option injection)', () => {
    const problems = checkStorageConfig({ stores: [{ id: '../x', url: 'nfs://h/x', mountOptions: ['ro,exec;rm'], extra: 1 }] })
    expect(problems.map((p) => p.path).sort()).toEqual(['/stores/0/extra', '/stores/0/id', '/stores/0/mountOptions/0'])
  })
})

describe('nfsMountArgs', () => {
  it('mounts with CloudStack\'s options, the version, then the operator\'s', () => {
    expect(nfsMountArgs({ id: 's', url: 'nfs://h/export', nfsVersion: '3', mountOptions: ['nolock'] }, '10.0.0.9', '/export', '/mnt/SecStorage/u')).toEqual([
      '-t', 'nfs', '-o', 'soft,timeo=133,retrans=2147483647,tcp,acdirmax=0,acdirmin=0,vers=3,nolock', '10.0.0.9:/export', '/mnt/SecStorage/u',
    ])
    expect(CLOUDSTACK_NFS_OPTIONS.join(',')).toBe('soft,timeo=133,retrans=2147483647,tcp,acdirmax=0,acdirmin=0')
  })

  it('brackets an IPv6 server', () => {
    expect(nfsMountArgs({ id: 's', url: 'nfs://[fd00::5]/e' }, 'fd00::5', '/e', '/m')[4]).toBe('[fd00::5]:/e')
  })
})

describe('mountPoints', () => {
  it('reads field 5 of mountinfo with octal escapes decoded', () => {
    const text = [
      '22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw',
      '40 22 0:35 / /mnt/SecStorage/665d3814 rw - nfs 10.1.1.5:/export rw,vers=3',
      '41 22 0:36 / /srv/with\\040space rw - tmpfs tmpfs rw',
      '',
    ].join('\n')
    expect([...mountPoints(text)]).toEqual(['/', '/mnt/SecStorage/665d3814', '/srv/with space'])
  })
})

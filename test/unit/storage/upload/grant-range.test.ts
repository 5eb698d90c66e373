import { describe, expect, it } from 'vitest'
import { decodeGrant, encodeGrant } from '../../../../src/storage/upload/grant.ts'
import { decideRange, fileEtag, noneMatch } from '../../../../src/storage/upload/range.ts'

const uuid = '9f0e8d7c-1111-4222-8333-444455556666'
const good = { uuid, storeId: 'nfs-1', kind: 'volume' as const, accountId: '2', entityId: 77, name: 'data disk', format: 'QCOW2', maxBytes: 1024 }

const raw = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

describe('upload grants', () => {
  it('round-trips, with ids as decimal text, the format and checksum canonical', () => {
    expect(decodeGrant(encodeGrant({ ...good, checksum: '{sha-256}' + 'AB'.repeat(32) }))).toEqual({
      uuid, storeId: 'nfs-1', kind: 'volume', accountId: '2', entityId: '77', name: 'data disk', format: 'qcow2', maxBytes: 1024,
      checksum: `{SHA-256}${'ab'.repeat(32)}`,
    })
    expect(decodeGrant(encodeGrant(good)).checksum).toBeUndefined()
    // Standard base64 with padding is read too.
    expect(decodeGrant(Buffer.from(JSON.stringify({ v: 1, ...good })).toString('base64')).uuid).toBe(uuid)
  })

  it.each([
    { name: 'not base64', metadata: 'not base64!' },
    { name: 'empty', metadata: '' },
    { name: 'not JSON', metadata: Buffer.from('{nope').toString('base64url') },
    { name: 'a repeated key', metadata: Buffer.from(`{"v":1,"maxBytes":1,"maxBytes":9e15}`).toString('base64url') },
    { name: 'version 2', metadata: raw({ ...good, v: 2 }) },
    { name: 'no version', metadata: raw(good) },
    { name: 'an unknown field', metadata: raw({ v: 1, ...good, maxbytes: 5 }) },
    { name: 'a missing maxBytes', metadata: raw({ v: 1, ...good, maxBytes: undefined }) },
    { name: 'maxBytes 0', metadata: raw({ v: 1, ...good, maxBytes: 0 }) },
    { name: 'a fractional maxBytes', metadata: raw({ v: 1, ...good, maxBytes: 1.5 }) },
    { name: 'a bad uuid', metadata: raw({ v: 1, ...good, uuid: '../x' }) },
    { name: 'account id 0', metadata: raw({ v: 1, ...good, accountId: 0 }) },
    { name: 'an entity id with a sign', metadata: raw({ v: 1, ...good, entityId: '-5' }) },
    { name: 'a storeId with a slash', metadata: raw({ v: 1, ...good, storeId: 'a/b' }) },
    { name: 'a kind iso', metadata: raw({ v: 1, ...good, kind: 'iso' }) },
    { name: 'a name with a newline', metadata: raw({ v: 1, ...good, name: 'a\nb' }) },
    { name: 'format vhdx', metadata: raw({ v: 1, ...good, format: 'vhdx' }) },
    { name: 'a bad checksum', metadata: raw({ v: 1, ...good, checksum: '{MD5}xyz' }) },
    { name: 'too long', metadata: 'A'.repeat(9000) },
  ])('refuses $name (ERR_UPLOAD_GRANT)', ({ metadata }) => {
    expect(() => decodeGrant(metadata)).toThrow(expect.objectContaining({ code: 'ERR_UPLOAD_GRANT', status: 400 }))
  })
})

describe('decideRange', () => {
  const v = { etag: '"a-b-c"', lastModified: 'Wed, 01 Jan 2025 00:00:00 GMT' }
  it.each([
    { range: undefined, want: { kind: 'full' } },
    { range: 'bytes=0-99', want: { kind: 'partial', start: 0, end: 99 } },
    { range: 'bytes=100-', want: { kind: 'partial', start: 100, end: 999 } },
    { range: 'bytes=-1', want: { kind: 'partial', start: 999, end: 999 } },
    { range: 'bytes=-5000', want: { kind: 'partial', start: 0, end: 999 } },
    { range: 'bytes=900-5000', want: { kind: 'partial', start: 900, end: 999 } },
    { range: 'BYTES = 1 - 2', want: { kind: 'partial', start: 1, end: 2 } },
    { range: 'bytes=1000-', want: { kind: 'unsatisfiable' } },
    { range: 'bytes=-0', want: { kind: 'unsatisfiable' } },
    { range: 'bytes=5-2', want: { kind: 'full' } },
    { range: 'bytes=0-1,3-4', want: { kind: 'full' } },
    { range: 'items=0-1', want: { kind: 'full' } },
    { range: 'bytes=-', want: { kind: 'full' } },
  ])('$range over 1000 bytes', ({ range, want }) => {
    expect(decideRange(range, 1000, v)).toEqual(want)
  })

  it('honours If-Range by ETag or date, sends the whole file when stale', () => {
    expect(decideRange('bytes=0-1', 1000, { ...v, ifRange: '"a-b-c"' })).toEqual({ kind: 'partial', start: 0, end: 1 })
    expect(decideRange('bytes=0-1', 1000, { ...v, ifRange: v.lastModified })).toEqual({ kind: 'partial', start: 0, end: 1 })
    expect(decideRange('bytes=0-1', 1000, { ...v, ifRange: '"old"' })).toEqual({ kind: 'full' })
    expect(decideRange('bytes=0-1', 1000, { ...v, ifRange: 'Thu, 02 Jan 2025 00:00:00 GMT' })).toEqual({ kind: 'full' })
  })

  it('any range of an empty file is unsatisfiable', () => {
    expect(decideRange('bytes=0-', 0, v)).toEqual({ kind: 'unsatisfiable' })
    expect(decideRange('bytes=-10', 0, v)).toEqual({ kind: 'unsatisfiable' })
  })

  it('etags change with size, mtime and inode; If-None-Match compares weakly', () => {
    expect(new Set([fileEtag(1, 2, 3), fileEtag(2, 2, 3), fileEtag(1, 3, 3), fileEtag(1, 2, 4)]).size).toBe(4)
    expect(noneMatch('W/"a-b-c", "x"', '"a-b-c"')).toBe(true)
    expect(noneMatch('*', '"q"')).toBe(true)
    expect(noneMatch('"x"', '"a-b-c"')).toBe(false)
    expect(noneMatch(undefined, '"a"')).toBe(false)
  })
})

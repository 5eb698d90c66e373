import { createHash } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BlobStore } from '../../../src/core/files/blob-store.ts'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
async function* chunks(b: Buffer, size = 1000): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size)
}

describe('BlobStore', () => {
  let dir: string
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'blobs-')) })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('stores bytes under their digest, 0600, once', async () => {
    const store = new BlobStore(join(dir, 'b'), 10_000)
    store.open()
    const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => i & 255))
    expect(await store.put(sha(bytes), chunks(bytes))).toEqual({ size: 5000, created: true })
    expect(await store.put(sha(bytes), chunks(bytes))).toEqual({ size: 5000, created: false })
    expect(statSync(join(dir, 'b', sha(bytes))).mode & 0o777).toBe(0o600)
    const again = new BlobStore(join(dir, 'b'), 10_000)
    again.open()
    expect([...again.index()]).toEqual([[sha(bytes), 5000]])
    const read: Buffer[] = []
    for await (const c of again.read(sha(bytes))!) read.push(c as Buffer)
    expect(Buffer.concat(read).equals(bytes)).toBe(true)
  })

  it('keeps nothing of bytes that do not match their name or are too large', async () => {
    const store = new BlobStore(dir, 4000)
    store.open()
    const bytes = Buffer.alloc(3000, 7)
    await expect(store.put('0'.repeat(64), chunks(bytes))).rejects.toMatchObject({ code: 'ERR_BLOB_DIGEST' })
    const big = Buffer.alloc(5000, 1)
    await expect(store.put(sha(big), chunks(big))).rejects.toMatchObject({ code: 'ERR_BLOB_TOO_LARGE' })
    await expect(store.put('../etc/passwd', chunks(bytes))).rejects.toMatchObject({ code: 'ERR_BLOB_NAME' })
    expect(readdirSync(dir)).toEqual([])
    expect(store.index().size).toBe(0)
  })

  it('sweeps away blobs nobody keeps once their grace has passed', async () => {
    const store = new BlobStore(dir, 100)
    store.open()
    const [a, b] = [Buffer.from('a'), Buffer.from('b')]
    await store.put(sha(a), chunks(a))
    await store.put(sha(b), chunks(b))
    expect(store.sweep(() => false, 60_000)).toEqual([])
    expect(store.sweep((s) => s === sha(a), 60_000, Date.now() + 61_000)).toEqual([sha(b)])
    expect([...store.index().keys()]).toEqual([sha(a)])
    expect(readdirSync(dir)).toEqual([sha(a)])
  })

  it('drops temp files a crash left, and removes blobs', async () => {
    writeFileSync(join(dir, '.tmp-deadbeef'), 'half')
    const store = new BlobStore(dir, 100)
    store.open()
    expect(readdirSync(dir)).toEqual([])
    const b = Buffer.from('x')
    await store.put(sha(b), chunks(b))
    expect(store.remove(sha(b))).toBe(true)
    expect(store.remove(sha(b))).toBe(false)
    expect(readdirSync(dir)).toEqual([])
  })
})

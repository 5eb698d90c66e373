import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { copyVerified } from '../../../../src/storage/install/files.ts'

describe('storage/install copyVerified (real files)', () => {
  let root: string
  let dest: string
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'copyv-src-'))
    dest = await mkdtemp(join(tmpdir(), 'copyv-dst-'))
  })
  afterEach(async () => {
    await rm(root, { recursive: true, force: true })
    await rm(dest, { recursive: true, force: true })
  })

  const copy = (name: string, options: { hash?: boolean } = {}, signal = new AbortController().signal) => {
    const seen = { temp: [] as string[], bytes: [] as number[], chunks: [] as Buffer[] }
    const done = copyVerified(root, join(root, name), dest, signal, {
      temp: (t) => seen.temp.push(t), bytes: (b) => seen.bytes.push(b), chunk: (c) => seen.chunks.push(Buffer.from(c)),
    }, options)
    return { done, seen }
  }

  it('copies a file of many pieces (and an odd tail) byte for byte, handing the pieces on in order', async () => {
    const data = randomBytes(9 * 1024 * 1024 + 12_345)
    await writeFile(join(root, 'a.img'), data)
    const { done, seen } = copy('a.img', { hash: true })
    const copied = await done
    expect(copied.size).toBe(data.length)
    expect(copied.sha256).toBe(createHash('sha256').update(data).digest('hex'))
    expect((await readFile(join(dest, copied.tempName))).equals(data)).toBe(true)
    expect(Buffer.concat(seen.chunks).equals(data)).toBe(true)
    expect(seen.temp).toEqual([copied.tempName])
    expect(seen.bytes.at(-1)).toBe(data.length)
    expect(seen.bytes).toEqual([...seen.bytes].sort((a, b) => a - b))
  })

  it('copies an empty file, and hashes only when asked', async () => {
    await writeFile(join(root, 'empty'), '')
    const copied = await copy('empty').done
    expect(copied.size).toBe(0)
    expect(copied.sha256).toBeUndefined()
    expect(await readFile(join(dest, copied.tempName))).toEqual(Buffer.alloc(0))
  })

  it('a cancelled copy leaves no temporary file', async () => {
    await writeFile(join(root, 'big'), randomBytes(16 * 1024 * 1024))
    const abort = new AbortController()
    const { done, seen } = copy('big', {}, abort.signal)
    abort.abort()
    await expect(done).rejects.toThrow()
    expect(seen.temp).toHaveLength(1)
    expect(await readdir(dest)).toEqual([])
  })

  it('refuses a source that is a symlink out of the store', async () => {
    const outside = join(dest, 'secret')
    await writeFile(outside, 'x')
    const { symlink } = await import('node:fs/promises')
    await symlink(outside, join(root, 'link'))
    await expect(copy('link').done).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_/) })
    expect((await readdir(dest)).sort()).toEqual(['secret'])
  })
})

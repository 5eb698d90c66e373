import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, mkdirSync, readdirSync, statSync, unlinkSync, type ReadStream } from 'node:fs'
import { open, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { ApplianceError } from '../errors.ts'
import { fsyncDir } from './atomic.ts'

/**
 * Content-addressed files: each blob is stored under the SHA-256 of its bytes, so a name says
 * exactly what it holds and a second upload of the same bytes is a no-op. Bytes stream from the
 * request to a temp file while they are hashed, so a blob never sits whole in the heap; it takes
 * its name (rename, fsync of the directory) only once its digest matched. Files are 0600.
 */

const NAME = /^[0-9a-f]{64}$/
const TEMP_PREFIX = '.tmp-'

export class BlobTooLargeError extends ApplianceError {
  constructor(limit: number) {
    super('ERR_BLOB_TOO_LARGE', `more than ${limit} bytes`)
  }
}

export class BlobDigestError extends ApplianceError {
  constructor(expected: string, actual: string) {
    super('ERR_BLOB_DIGEST', `the bytes hash to ${actual}, not ${expected}`)
  }
}

export class BlobStore {
  private readonly sizes = new Map<string, number>()

  /** `maxBytes`: the largest blob taken. */
  constructor(private readonly dir: string, private readonly maxBytes: number) {}

  /** Indexes what is stored and removes temp files a crash left. */
  open(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    for (const name of readdirSync(this.dir)) {
      if (name.startsWith(TEMP_PREFIX)) unlinkSync(join(this.dir, name))
      else if (NAME.test(name)) this.sizes.set(name, statSync(join(this.dir, name)).size)
    }
  }

  /** sha256 → size of every stored blob. */
  index(): ReadonlyMap<string, number> {
    return this.sizes
  }

  has(sha256: string): boolean {
    return this.sizes.has(sha256)
  }

  /**
   * Stores the bytes `chunks` yields under `sha256`, which they must hash to. Resolves with the
   * size and whether they were new. Nothing is stored when they do not match or are too large.
   */
  async put(sha256: string, chunks: AsyncIterable<Buffer>): Promise<{ size: number; created: boolean }> {
    if (!NAME.test(sha256)) throw new ApplianceError('ERR_BLOB_NAME', 'a blob is named by 64 lower-case hex digits (its SHA-256)')
    const tmp = join(this.dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`)
    const file = await open(tmp, 'wx', 0o600)
    const hash = createHash('sha256')
    let size = 0
    try {
      for await (const chunk of chunks) {
        size += chunk.length
        if (size > this.maxBytes) throw new BlobTooLargeError(this.maxBytes)
        hash.update(chunk)
        await file.write(chunk)
      }
      const actual = hash.digest('hex')
      if (actual !== sha256) throw new BlobDigestError(sha256, actual)
      await file.sync()
    } catch (err) {
      await file.close()
      unlinkSync(tmp)
      throw err
    }
    await file.close()
    if (this.sizes.has(sha256)) {
      unlinkSync(tmp)
      return { size, created: false }
    }
    await rename(tmp, join(this.dir, sha256))
    fsyncDir(this.dir)
    this.sizes.set(sha256, size)
    return { size, created: true }
  }

  /** The blob's bytes as a stream (for serving), or undefined. */
  read(sha256: string): ReadStream | undefined {
    return this.sizes.has(sha256) ? createReadStream(join(this.dir, sha256)) : undefined
  }

  /**
   * Removes the blobs `keep` does not want that were stored more than `graceMs` ago (an upload
   * waits that long for the config that names it). Returns their names.
   */
  sweep(keep: (sha256: string) => boolean, graceMs: number, now = Date.now()): string[] {
    const removed: string[] = []
    for (const sha256 of [...this.sizes.keys()]) {
      if (keep(sha256)) continue
      const stored = statSync(join(this.dir, sha256), { throwIfNoEntry: false })
      if (stored !== undefined && now - stored.mtimeMs < graceMs) continue
      this.sizes.delete(sha256)
      if (stored !== undefined) unlinkSync(join(this.dir, sha256))
      removed.push(sha256)
    }
    if (removed.length > 0) fsyncDir(this.dir)
    return removed
  }

  remove(sha256: string): boolean {
    if (!this.sizes.delete(sha256)) return false
    unlinkSync(join(this.dir, sha256))
    fsyncDir(this.dir)
    return true
  }
}

import { createHash, randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { ApplianceError } from '../../core/errors.ts'
import { downloadTempName } from '../layout/paths.ts'
import { openResolvedInStore, resolveInStore } from '../layout/safe-path.ts'

/**
 * The file steps every install shares, so that nothing half-written ever looks complete: bytes
 * go to a temporary name (`dnld…tmp_`, as CloudStack names them), are fsynced and verified,
 * then renamed to the install name; the properties file, which is what makes an install
 * listed, comes last and is itself replaced atomically. Every path goes through the store's
 * path checks (layout/safe-path.ts). Install files are 0644: the hypervisor hosts read them.
 */

const FILE_MODE = 0o644
const DIR_MODE = 0o755
/** Large enough that a 1 GiB copy is 256 writes, small enough to stay out of the way of memory (two are in use). */
export const IO_CHUNK = 4 * 1024 * 1024

/**
 * Reads a whole file in IO_CHUNK pieces, the next read already running while `use` handles the
 * current piece (hashing, writing), so the disk and the CPU work side by side. A piece is valid
 * only until `use` resolves.
 */
export async function readAhead(file: FileHandle, signal: AbortSignal, use: (chunk: Buffer) => Promise<void>): Promise<void> {
  const buffers = [Buffer.allocUnsafe(IO_CHUNK), Buffer.allocUnsafe(IO_CHUNK)]
  let at = 0
  let which = 0
  let pending = file.read(buffers[0] as Buffer, 0, IO_CHUNK, 0)
  for (;;) {
    signal.throwIfAborted()
    const { bytesRead } = await pending
    if (bytesRead === 0) return
    const chunk = (buffers[which] as Buffer).subarray(0, bytesRead)
    at += bytesRead
    which = 1 - which
    pending = file.read(buffers[which] as Buffer, 0, IO_CHUNK, at)
    try {
      await use(chunk)
    } catch (err) {
      await pending.catch(() => undefined)
      throw err
    }
  }
}

/** The absolute directory `relative` names in the store, made if missing; symlinks out are refused before and after. */
export async function ensureDirInStore(root: string, relative: string): Promise<string> {
  const dir = await resolveInStore(root, relative)
  await mkdir(dir, { recursive: true, mode: DIR_MODE })
  // Checked again: a component may have been swapped for a symlink while it was made.
  return resolveInStore(root, relative)
}

/** A new temporary file in `dir` (never an existing one, never through a symlink). */
export async function createTemp(dir: string): Promise<{ name: string; handle: FileHandle }> {
  const name = downloadTempName(randomBytes(8))
  const handle = await open(join(dir, name), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, FILE_MODE)
  return { name, handle }
}

/** Opens a temporary file a job made earlier to continue it (made anew if it is gone); returns its length. */
export async function reopenTemp(dir: string, name: string): Promise<{ handle: FileHandle; size: number }> {
  const handle = await open(join(dir, name), constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, FILE_MODE)
  return { handle, size: (await handle.stat()).size }
}

/** Makes a directory's entries (a rename, a new file) durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY)
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Renames a finished, fsynced temporary file to its install name, durably. */
export async function publish(dir: string, tempName: string, finalName: string): Promise<void> {
  await rename(join(dir, tempName), join(dir, finalName))
  await syncDir(dir)
}

/** Replaces `dir/name` with `text` whole or not at all (temp, fsync, rename, fsync of the directory). */
export async function writeFileDurable(dir: string, name: string, text: string): Promise<void> {
  const { name: tmp, handle } = await createTemp(dir)
  try {
    await handle.writeFile(text, 'latin1')
    await handle.sync()
  } catch (err) {
    await handle.close().catch(() => undefined)
    await rm(join(dir, tmp), { force: true })
    throw err
  }
  await handle.close()
  await publish(dir, tmp, name)
}

/** Removes temporary files by name from `dir`; missing ones are fine. */
export async function removeTemps(dir: string, names: readonly (string | undefined)[]): Promise<void> {
  for (const name of names) if (name !== undefined) await rm(join(dir, name), { force: true })
}

export interface CopiedFile {
  tempName: string
  size: number
  /** The SHA-256 of the bytes copied, hex, when asked for (`hash: true`). */
  sha256: string | undefined
}

/** Bytes per step of a verified copy; COPY_SLOTS steps in flight (2 buffers each: 16 MiB in all). */
const COPY_CHUNK = 2 * 1024 * 1024
const COPY_SLOTS = 4

interface CopySlot { data: Buffer; back: Buffer }

/**
 * Copies the store file at `source` (absolute, already resolved in its store) into a new
 * temporary file in `destDir` and verifies it: every piece written is read back from the copy
 * and compared with the bytes read from the source before the copy counts; then fsync. A copy
 * is verified, not assumed. `on.temp` learns the temporary name before a byte is written (to
 * remove it after a crash), `on.bytes` the running total, `on.chunk` every piece in order.
 *
 * The pieces are pipelined: while the main thread hashes (or sniffs) piece i, the libuv pool
 * reads piece i+1 and writes and reads back the pieces before it, so the copy uses both cores
 * where `cp` uses one (bench-storage's copy_verify_vs_cp).
 *
 * What the read-back proves: the copy holds the bytes the source gave (no slip in offsets or
 * lengths, no other writer) as the kernel will serve them to a reader. It reads the page cache,
 * as every reader of a file just written does (tmpfs, ext4, an NFS client alike): the medium's
 * own integrity is the storage's job, not something a read after a write can see.
 */
export async function copyVerified(
  sourceRoot: string, source: string, destDir: string, signal: AbortSignal,
  on: { temp: (name: string) => void; bytes: (bytes: number) => void; chunk?: (chunk: Buffer) => void },
  options: { hash?: boolean } = {},
): Promise<CopiedFile> {
  const input = await openResolvedInStore(sourceRoot, source)
  let output: FileHandle | undefined
  let check: FileHandle | undefined
  let name: string | undefined
  const hash = options.hash === true ? createHash('sha256') : undefined
  const free: CopySlot[] = Array.from({ length: COPY_SLOTS }, () => ({ data: Buffer.allocUnsafe(COPY_CHUNK), back: Buffer.allocUnsafe(COPY_CHUNK) }))
  const inFlight = new Set<Promise<void>>()
  let failure: unknown
  let size = 0
  try {
    const temp = await createTemp(destDir)
    name = temp.name
    output = temp.handle
    on.temp(name)
    check = await open(join(destDir, name), constants.O_RDONLY | constants.O_NOFOLLOW)
    const out = output
    const back = check
    const readPiece = (slot: CopySlot, at: number) => readFull(input, slot.data, at).then((n) => ({ slot, n, at }))
    let next = readPiece(free.pop() as CopySlot, 0)
    for (;;) {
      signal.throwIfAborted()
      const { slot, n, at } = await next
      if (n === 0) {
        free.push(slot)
        break
      }
      // The next read runs while this piece is hashed and its write is queued.
      while (free.length === 0) await Promise.race(inFlight)
      if (failure !== undefined) throw failure
      next = readPiece(free.pop() as CopySlot, at + n)
      const piece = slot.data.subarray(0, n)
      hash?.update(piece)
      on.chunk?.(piece)
      const step: Promise<void> = writeAndCompare(source, out, back, slot, n, at).then(
        () => { free.push(slot) },
        (err: unknown) => { failure ??= err; free.push(slot) },
      ).finally(() => inFlight.delete(step))
      inFlight.add(step)
      size = at + n
      on.bytes(size)
    }
    await Promise.all(inFlight)
    if (failure !== undefined) throw failure
    await out.sync()
  } catch (err) {
    await Promise.allSettled(inFlight)
    await Promise.allSettled([output?.close(), check?.close()])
    if (name !== undefined) await rm(join(destDir, name), { force: true })
    throw err
  } finally {
    await input.close()
  }
  await Promise.all([output.close(), check.close()])
  return { tempName: name, size, sha256: hash?.digest('hex') }
}

async function writeAndCompare(source: string, out: FileHandle, back: FileHandle, slot: CopySlot, length: number, at: number): Promise<void> {
  for (let done = 0; done < length;) {
    const { bytesWritten } = await out.write(slot.data, done, length - done, at + done)
    done += bytesWritten
  }
  const got = await readFull(back, slot.back, at, length)
  if (got !== length || !slot.data.subarray(0, length).equals(slot.back.subarray(0, length))) {
    throw new ApplianceError('ERR_COPY_VERIFY', `the copy of ${basename(source)} reads back different from the source at bytes ${at}–${at + length}`)
  }
}

/** Reads `length` bytes (default: the buffer's) at `at`, fewer only at the end of the file. */
async function readFull(file: FileHandle, buf: Buffer, at: number, length = buf.length): Promise<number> {
  let got = 0
  while (got < length) {
    const { bytesRead } = await file.read(buf, got, length - got, at + got)
    if (bytesRead === 0) break
    got += bytesRead
  }
  return got
}

import { createHash, randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
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

export interface CopiedFile { tempName: string; size: number; sha256: string }

/**
 * Copies the store file at `source` (absolute, already resolved in its store) into a new
 * temporary file in `destDir`, hashing the bytes read; fsyncs it, then reads it back beside the
 * source and compares: a copy is verified, not assumed. `on.temp` learns the temporary name before a byte
 * is written (to remove it after a crash), `on.bytes` the running total.
 */
export async function copyVerified(
  sourceRoot: string, source: string, destDir: string, signal: AbortSignal,
  on: { temp: (name: string) => void; bytes: (bytes: number) => void; chunk?: (chunk: Buffer) => void },
): Promise<CopiedFile> {
  const input = await openResolvedInStore(sourceRoot, source)
  const { name, handle } = await createTemp(destDir)
  on.temp(name)
  const hash = createHash('sha256')
  let size = 0
  try {
    await readAhead(input, signal, async (chunk) => {
      hash.update(chunk)
      on.chunk?.(chunk)
      await handle.write(chunk, 0, chunk.length, size)
      size += chunk.length
      on.bytes(size)
    })
    await handle.sync()
  } catch (err) {
    await handle.close().catch(() => undefined)
    await rm(join(destDir, name), { force: true })
    throw err
  } finally {
    await input.close()
  }
  await handle.close()
  const sha256 = hash.digest('hex')
  if (!(await sameContent(sourceRoot, source, join(destDir, name), signal))) {
    await rm(join(destDir, name), { force: true })
    throw new ApplianceError('ERR_COPY_VERIFY', `the copy of ${source} reads back different from the source`)
  }
  return { tempName: name, size, sha256 }
}

/**
 * Whether the copy reads back byte for byte as the source: both read again side by side and
 * compared, cheaper than hashing the copy a second time.
 */
async function sameContent(sourceRoot: string, source: string, copy: string, signal: AbortSignal): Promise<boolean> {
  const a = await openResolvedInStore(sourceRoot, source)
  const b = await open(copy, constants.O_RDONLY | constants.O_NOFOLLOW)
  const bufA = Buffer.allocUnsafe(IO_CHUNK)
  const bufB = Buffer.allocUnsafe(IO_CHUNK)
  try {
    for (let at = 0; ;) {
      signal.throwIfAborted()
      const [ra, rb] = await Promise.all([a.read(bufA, 0, IO_CHUNK, at), b.read(bufB, 0, IO_CHUNK, at)])
      if (ra.bytesRead !== rb.bytesRead || !bufA.subarray(0, ra.bytesRead).equals(bufB.subarray(0, rb.bytesRead))) return false
      if (ra.bytesRead === 0) return true
      at += ra.bytesRead
    }
  } finally {
    await Promise.all([a.close(), b.close()])
  }
}

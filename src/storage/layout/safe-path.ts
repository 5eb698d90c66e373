import { constants, type Stats } from 'node:fs'
import { lstat, open, readlink, realpath, type FileHandle } from 'node:fs/promises'
import { isAbsolute } from 'node:path'
import { ApplianceError, errorCode } from '../../core/errors.ts'

/**
 * Keeps every file the daemon touches inside the image store it was asked about. Relative
 * paths come from the management server (installPath), from upload metadata and from
 * extract requests; a `..`, an absolute path or a symlink planted on the (shared, NFS) store
 * must not let one of them reach /etc or another store.
 */

/** A path that would leave the store; `path` is the offending input or component. */
export class PathOutsideStoreError extends ApplianceError {
  readonly path: string
  constructor(path: string, why: string) {
    super('ERR_PATH_OUTSIDE_STORE', `${JSON.stringify(path)} is refused: ${why}`)
    this.path = path
  }
}

/**
 * Checks `relative` as text: not empty, not absolute, no NUL, no backslash (CloudStack's
 * paths never hold one; it is how Windows-style `..\` escapes are written), no `.`/`..` and
 * no empty segment (one trailing `/` is allowed: it just marks a directory). Returns the
 * segments. Pure.
 */
export function splitStorePath(relative: string): string[] {
  if (typeof relative !== 'string' || relative === '') throw new PathOutsideStoreError(String(relative), 'empty path')
  if (relative.includes('\0')) throw new PathOutsideStoreError(relative, 'contains a NUL byte')
  if (relative.startsWith('/') || isAbsolute(relative)) throw new PathOutsideStoreError(relative, 'absolute path')
  if (relative.includes('\\')) throw new PathOutsideStoreError(relative, 'contains a backslash')
  const segments = (relative.endsWith('/') ? relative.slice(0, -1) : relative).split('/')
  for (const segment of segments) {
    if (segment === '') throw new PathOutsideStoreError(relative, 'empty path segment')
    if (segment === '..' || segment === '.') throw new PathOutsideStoreError(relative, `"${segment}" segment`)
  }
  return segments
}

/**
 * Resolves `relative` under `storeRoot` and returns the absolute path (`storeRoot` + `/` +
 * segments, symlinks left in place). Walks the components that exist: any that is a symlink
 * must resolve (realpath) inside the store root's real path, or the call fails with
 * `ERR_PATH_OUTSIDE_STORE` naming that component; a dangling symlink is refused too, since its
 * target could be created later anywhere. Components that do not exist yet (the file to be
 * written, directories to be made) are fine. Async, reads the filesystem.
 */
export async function resolveInStore(storeRoot: string, relative: string): Promise<string> {
  const segments = splitStorePath(relative)
  if (!isAbsolute(storeRoot)) throw new ApplianceError('ERR_INTERNAL', `store root must be absolute: ${storeRoot}`)
  const root = trimSlash(storeRoot)
  const realRoot = await realpath(root)
  let lexical = root
  for (const segment of segments) {
    lexical = `${lexical}/${segment}`
    const stats = await lstatOrNull(lexical)
    if (stats === null) break // the rest does not exist yet; nothing there can point elsewhere
    if (stats.isSymbolicLink()) await checkSymlinkInside(lexical, realRoot)
  }
  return `${root}/${segments.join('/')}`
}

async function checkSymlinkInside(link: string, realRoot: string): Promise<void> {
  let target: string
  try {
    target = await realpath(link)
  } catch (err) {
    const code = errorCode(err)
    if (code === 'ENOENT' || code === 'ELOOP') {
      throw new PathOutsideStoreError(link, `symlink to ${JSON.stringify(await readlink(link).catch(() => '?'))} does not resolve`)
    }
    throw err
  }
  if (target !== realRoot && !target.startsWith(`${realRoot}/`)) {
    throw new PathOutsideStoreError(link, `symlink resolves to ${target}, outside the store ${realRoot}`)
  }
}

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path)
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return null
    if (errorCode(err) === 'ENOTDIR') throw new ApplianceError('ERR_PATH_NOT_DIRECTORY', `a component of ${path} is not a directory`, { cause: err })
    throw err
  }
}

/**
 * Opens a regular file inside the store for reading: resolveInStore, then openResolvedInStore.
 * The caller closes the handle. Throws `ERR_PATH_OUTSIDE_STORE`, `ERR_NOT_A_FILE`, or the fs
 * error (ENOENT …) as is.
 */
export async function openInStore(storeRoot: string, relative: string): Promise<FileHandle> {
  return openResolvedInStore(storeRoot, await resolveInStore(storeRoot, relative))
}

/**
 * Opens, for reading, a path resolveInStore returned, possibly some time ago: the tree may
 * have changed since. Opens with O_NOFOLLOW, so a final component that is a symlink (even one
 * swapped in after the check, even one pointing inside) is refused, and with O_NONBLOCK, so a
 * planted FIFO cannot hang the open; only a regular file is accepted. Then, on Linux, asks
 * /proc/self/fd where the opened file really is and refuses it if outside the store, which
 * covers a directory component swapped for a symlink after the check. The caller closes the
 * handle. Throws `ERR_PATH_OUTSIDE_STORE`, `ERR_NOT_A_FILE`, or the fs error as is.
 */
export async function openResolvedInStore(storeRoot: string, absolutePath: string): Promise<FileHandle> {
  const realRoot = await realpath(trimSlash(storeRoot))
  let handle: FileHandle
  try {
    handle = await open(absolutePath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (err) {
    if (errorCode(err) === 'ELOOP') throw new PathOutsideStoreError(absolutePath, 'final component is a symlink')
    throw err
  }
  try {
    if (!(await handle.stat()).isFile()) throw new ApplianceError('ERR_NOT_A_FILE', `${absolutePath} is not a regular file`)
    const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => null) // null off Linux
    if (opened !== null && !opened.startsWith(`${realRoot}/`)) {
      throw new PathOutsideStoreError(absolutePath, `opened ${opened}, outside the store ${realRoot}`)
    }
    return handle
  } catch (err) {
    await handle.close()
    throw err
  }
}

function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.replace(/\/+$/, '') || '/' : path
}

import { closeSync, fsyncSync, ftruncateSync, openSync, renameSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'

/**
 * Durable file writes for every store of every daemon: a file is replaced whole or not at all
 * (temp file, fsync, rename, fsync of the directory), so a crash leaves the old or the new
 * contents, never a mix. Files are created 0600: stores hold configs, leases and secrets.
 */

export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`
  const fd = openSync(tmp, 'w', 0o600)
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally { closeSync(fd) }
  renameSync(tmp, path)
  fsyncDir(dirname(path))
}

/** Makes entries created, renamed or removed in `dir` durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try { fsyncSync(fd) } finally { closeSync(fd) }
}

/** Cuts a file to `bytes` and makes the cut durable before anything is appended. */
export function truncateFile(path: string, bytes: number): void {
  const fd = openSync(path, 'r+')
  try {
    ftruncateSync(fd, bytes)
    fsyncSync(fd)
  } finally { closeSync(fd) }
}

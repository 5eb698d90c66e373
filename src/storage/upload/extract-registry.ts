import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, isAbsolute, join } from 'node:path'
import { ApplianceError, BusyError, errorCode, NotFoundError, StoreError } from '../../core/errors.ts'
import { writeFileAtomic } from '../../core/files/atomic.ts'
import { checkFileName } from '../layout/identifiers.ts'
import { openInStore, splitStorePath } from '../layout/safe-path.ts'

/**
 * The extracts the listener serves at `/userdata/<name>`: CloudStack's
 * CreateEntityDownloadURLCommand makes a symlink `/var/www/html/userdata/<name>` to the stored
 * object; here a registration names the object by store root + relative path instead, so every
 * read goes through openInStore (no `..`, no absolute path, no symlink leaving the store, even
 * one planted after registration). Held in memory, persisted whole to `extracts.json` in the
 * state directory (atomic replace) on every change, reloaded on start; expired entries are
 * dropped when read and by sweep().
 */

export interface ExtractEntry {
  /** One safe file name: the URL is /userdata/<name>. */
  name: string
  /** Absolute path of the store's mount point. */
  storeRoot: string
  /** Path of the object inside the store (e.g. template/tmpl/2/201/<uuid>.qcow2). */
  path: string
  /** ms since the epoch after which the extract is gone; none = until deleted. */
  expiresAt?: number
  /** Serve only signed URLs (?expires=…&signature=…), never the bare name. */
  requireSignature: boolean
  createdAt: number
}

export interface ExtractRegistration {
  name: string
  storeRoot: string
  path: string
  /** ms since the epoch, or ISO-8601 text. */
  expiresAt?: number | string
  requireSignature?: boolean
}

export interface ExtractRegistryOptions {
  stateDir: string
  now?: () => number
  /** Most extracts held (default 10,000); registering more throws ERR_BUSY. */
  maxEntries?: number
}

interface StateFile { version: 1; extracts: ExtractEntry[] }

const FILE = 'extracts.json'

export class ExtractRegistry {
  private readonly entries = new Map<string, ExtractEntry>()
  private readonly file: string
  private readonly now: () => number
  private readonly maxEntries: number

  constructor(opts: ExtractRegistryOptions) {
    this.file = join(opts.stateDir, FILE)
    this.now = opts.now ?? Date.now
    this.maxEntries = opts.maxEntries ?? 10_000
  }

  /** Loads the persisted extracts (a missing file is none), dropping expired ones. Throws ERR_STORE_CORRUPT. */
  open(): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 })
    this.entries.clear()
    if (!existsSync(this.file)) return
    let state: StateFile
    try {
      state = JSON.parse(readFileSync(this.file, 'utf8')) as StateFile
    } catch (err) {
      throw new StoreError(`${this.file} is not valid JSON`, { cause: err })
    }
    if (state.version !== 1 || !Array.isArray(state.extracts)) throw new StoreError(`${this.file} is not an extract list`)
    for (const e of state.extracts) {
      if (!isEntry(e)) throw new StoreError(`${this.file} holds a malformed extract`)
      this.entries.set(e.name, e)
    }
    if (this.sweep().length > 0) this.save()
  }

  /**
   * Registers (or replaces) an extract. Checks the name (ERR_BAD_NAME), the store root
   * (absolute), the path (ERR_PATH_OUTSIDE_STORE for `..`, absolute, NUL, a symlink leaving the
   * store) and that it opens as a regular file (ERR_NOT_FOUND, ERR_NOT_A_FILE). Persists it.
   */
  async register(r: ExtractRegistration): Promise<ExtractEntry> {
    const name = checkFileName(r.name, 'extract name')
    if (typeof r.storeRoot !== 'string' || !isAbsolute(r.storeRoot)) throw new ApplianceError('ERR_BAD_REQUEST', `store root must be an absolute path: ${JSON.stringify(r.storeRoot)}`)
    splitStorePath(r.path)
    const expiresAt = parseExpiry(r.expiresAt)
    if (expiresAt !== undefined && expiresAt <= this.now()) throw new ApplianceError('ERR_BAD_REQUEST', 'the extract would expire before it is served')
    try {
      const handle = await openInStore(r.storeRoot, r.path)
      await handle.close()
    } catch (err) {
      if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') throw new NotFoundError(`${r.path} in ${r.storeRoot}`)
      throw err
    }
    if (!this.entries.has(name) && this.entries.size >= this.maxEntries) {
      this.sweep()
      if (this.entries.size >= this.maxEntries) throw new BusyError(`${this.maxEntries} extracts are registered`)
    }
    const entry: ExtractEntry = {
      name, storeRoot: r.storeRoot, path: r.path, requireSignature: r.requireSignature === true, createdAt: this.now(),
      ...(expiresAt === undefined ? {} : { expiresAt }),
    }
    this.entries.set(name, entry)
    this.save()
    return entry
  }

  /** Removes an extract; false when there was none. */
  remove(name: string): boolean {
    if (!this.entries.delete(name)) return false
    this.save()
    return true
  }

  /** The extract named so, unless expired. */
  get(name: string): ExtractEntry | undefined {
    const e = this.entries.get(name)
    if (e === undefined || (e.expiresAt !== undefined && e.expiresAt <= this.now())) return undefined
    return e
  }

  list(): ExtractEntry[] {
    return [...this.entries.values()].filter((e) => e.expiresAt === undefined || e.expiresAt > this.now())
  }

  /** Forgets expired extracts (in memory; the caller saves) and returns their names. */
  sweep(): string[] {
    const gone: string[] = []
    for (const [name, e] of this.entries) {
      if (e.expiresAt !== undefined && e.expiresAt <= this.now()) {
        this.entries.delete(name)
        gone.push(name)
      }
    }
    return gone
  }

  /** Sweeps and persists when something expired; returns the names dropped. */
  sweepAndSave(): string[] {
    const gone = this.sweep()
    if (gone.length > 0) this.save()
    return gone
  }

  private save(): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 })
    const state: StateFile = { version: 1, extracts: [...this.entries.values()] }
    writeFileAtomic(this.file, `${JSON.stringify(state, null, 1)}\n`)
  }
}

function parseExpiry(value: number | string | undefined): number | undefined {
  if (value === undefined) return undefined
  const ms = typeof value === 'number' ? value : Date.parse(value)
  if (!Number.isFinite(ms)) throw new ApplianceError('ERR_BAD_REQUEST', `extract expiry is not a time: ${JSON.stringify(value)}`)
  return ms
}

function isEntry(v: unknown): v is ExtractEntry {
  if (typeof v !== 'object' || v === null) return false
  const e = v as Record<string, unknown>
  return typeof e['name'] === 'string' && typeof e['storeRoot'] === 'string' && typeof e['path'] === 'string'
    && typeof e['requireSignature'] === 'boolean' && typeof e['createdAt'] === 'number'
    && (e['expiresAt'] === undefined || typeof e['expiresAt'] === 'number')
}

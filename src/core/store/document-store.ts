import { appendFileSync, closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { StoreError } from '../errors.ts'
import { fsyncDir, truncateFile, writeFileAtomic } from '../files/atomic.ts'
import { readJournal } from '../files/json-lines.ts'
import { withItem, type CollectionKey, type CollectionsDocument } from './items.ts'

/**
 * A daemon's persisted desired state, a document of collections (routerd's config, storaged's
 * stores): a snapshot (`config.json`: generation + document), written
 * temp + fsync + rename + fsync(dir), and a journal (`journal.ndjson`) of item edits since
 * the snapshot, each appended and fsynced, so an item edit with 10,000 items present writes one
 * line, not the whole document. The journal is folded into a new snapshot when it grows.
 * A torn last journal line (crash mid-append) was never acknowledged: it is cut from the file
 * at load, before anything is appended after it. The snapshot a new one replaces is kept as
 * `config.prev.json`, a last resort when `config.json` cannot be read. Every line and the
 * snapshot are checked for their shape; what is wrong is a StoreError (ERR_STORE_CORRUPT).
 */

export interface StoredState<D extends CollectionsDocument> { generation: number; config: D }

/** What a daemon's document is made of: its collections' names and the empty document. */
export interface DocumentShape<D extends CollectionsDocument> {
  collections: readonly CollectionKey<D>[]
  empty: () => D
}

/** A snapshot written and fsynced under a temporary name: commit() makes it the state, abort() drops it. */
export interface StagedSnapshot {
  commit(): void
  abort(): void
}

interface JournalEntry { g: number; c: string; id: string; item: unknown }

/** Something wrong with the stored files, as found at load (reported in /v1/status). */
export interface StoreProblem { code: string; message: string; file?: string; line?: number; generation?: number }

export interface OpenedStore<D extends CollectionsDocument> {
  /** What could be read: the snapshot with the journal replayed up to any damaged line. */
  state: StoredState<D>
  problems: StoreProblem[]
  /** The highest generation any readable part of the store names: a new state must go past it. */
  highestGeneration: number
  /** The files hold damage (not a mere torn tail): they must be replaced before the next append. */
  damaged: boolean
  /**
   * Earlier stored states, newest first: the journal replayed one line less each time, down to
   * the snapshot alone, then the previous snapshot. Computed lazily: wanted only when `state`
   * fails validation.
   */
  earlier(): Generator<StoredState<D>>
}

const SNAPSHOT = 'config.json'
const PREVIOUS = 'config.prev.json'
const JOURNAL = 'journal.ndjson'
const COMPACT_AFTER_BYTES = 4 * 1024 * 1024

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Pure. A journal line's value as an entry, or what is wrong with its shape. */
function journalEntry(value: unknown, collections: ReadonlySet<string>): JournalEntry | string {
  if (!isRecord(value)) return 'not an object'
  const { g, c, id, item } = value
  if (typeof g !== 'number' || !Number.isSafeInteger(g) || g < 1) return 'generation "g" is not a positive integer'
  if (typeof c !== 'string' || !collections.has(c)) return `"c" is not a collection name`
  if (typeof id !== 'string' || id === '') return '"id" is not a non-empty string'
  if (!('item' in value)) return '"item" is missing'
  if (item !== null && !(isRecord(item) && item['id'] === id)) return '"item" is neither null nor an object with the line\'s id'
  return { g, c, id, item }
}

/** Reads a snapshot file and checks its shape (not its content: the engine validates that). */
function readSnapshot<D extends CollectionsDocument>(path: string, shape: DocumentShape<D>): { ok: true; state: StoredState<D> } | { ok: false; message: string } {
  if (!existsSync(path)) return { ok: true, state: { generation: 0, config: shape.empty() } }
  let value: unknown
  try {
    value = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    return { ok: false, message: `cannot read ${path}: ${(err as Error).message}` }
  }
  if (!isRecord(value)) return { ok: false, message: `${path}: not an object` }
  const { generation, config } = value
  if (typeof generation !== 'number' || !Number.isSafeInteger(generation) || generation < 0) return { ok: false, message: `${path}: "generation" is not an integer ≥ 0` }
  if (!isRecord(config)) return { ok: false, message: `${path}: "config" is not an object` }
  for (const name of shape.collections) {
    const items = config[name as string]
    if (items === undefined) continue
    if (!Array.isArray(items) || !items.every((item) => isRecord(item) && typeof item['id'] === 'string')) {
      return { ok: false, message: `${path}: "config.${name}" is not a list of items with ids` }
    }
  }
  // A snapshot written before a collection existed lacks it: the collection was empty then.
  return { ok: true, state: { generation, config: { ...shape.empty(), ...config } as D } }
}

export class DocumentStore<D extends CollectionsDocument> {
  private journalBytes = 0
  private readonly collections: ReadonlySet<string>

  constructor(private readonly dir: string, private readonly shape: DocumentShape<D>) {
    this.collections = new Set(shape.collections)
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  }

  /** Loads the snapshot and replays the journal (see open()); any damage but a torn tail throws a StoreError. */
  load(): StoredState<D> {
    const opened = this.open()
    const bad = opened.problems.find((p) => p.code !== 'ERR_STORE_TORN_TAIL')
    if (bad !== undefined) throw new StoreError(bad.message)
    return opened.state
  }

  /**
   * Loads the snapshot and replays the journal, without throwing for damaged content: the state
   * is what could be read (the journal up to a damaged line; the previous snapshot when the
   * snapshot is unreadable; else generation 0, empty) and `problems` says what was wrong.
   * A torn tail is cut from the file here, before anything can be appended after it.
   * A missing store is generation 0, empty.
   */
  open(): OpenedStore<D> {
    // Files a crashed daemon left half-way (never the state: only a rename makes them that).
    for (const name of readdirSync(this.dir)) {
      const pid = /\.(?:tmp|staged)-(\d+)$/.exec(name)?.[1]
      if (pid !== undefined && Number(pid) !== process.pid) rmSync(join(this.dir, name), { force: true })
    }
    const problems: StoreProblem[] = []
    const snapshot = readSnapshot(join(this.dir, SNAPSHOT), this.shape)
    let base: StoredState<D> = { generation: 0, config: this.shape.empty() }
    let highest = 0
    let journal: JournalEntry[] = []
    let damaged = false
    const journalPath = join(this.dir, JOURNAL)
    if (snapshot.ok) {
      base = snapshot.state
      highest = base.generation
      const scan = readJournal(journalPath)
      if (scan.tornAt !== undefined) {
        truncateFile(journalPath, scan.keepBytes)
        problems.push({ code: 'ERR_STORE_TORN_TAIL', file: JOURNAL, line: scan.tornAt, message: `${JOURNAL}: an unfinished write from line ${scan.tornAt} on was cut (never acknowledged)` })
      }
      if (scan.damaged !== undefined) {
        damaged = true
        problems.push({ code: 'ERR_STORE_CORRUPT', file: JOURNAL, line: scan.damaged.line, message: `${JOURNAL}: line ${scan.damaged.line} is not JSON (${scan.damaged.message}); the lines from there on were not replayed` })
      }
      for (const { value, line } of scan.lines) {
        const entry = journalEntry(value, this.collections)
        if (typeof entry === 'string') {
          if (!damaged) problems.push({ code: 'ERR_STORE_CORRUPT', file: JOURNAL, line, message: `${JOURNAL}: line ${line}: ${entry}; the lines from there on were not replayed` })
          damaged = true
        } else if (!damaged && entry.g > base.generation) journal.push(entry)
        if (typeof value === 'object' && value !== null && Number.isSafeInteger((value as { g?: unknown }).g)) highest = Math.max(highest, (value as { g: number }).g)
      }
      for (const value of scan.afterDamage) {
        if (typeof value === 'object' && value !== null && Number.isSafeInteger((value as { g?: unknown }).g)) highest = Math.max(highest, (value as { g: number }).g)
      }
      this.journalBytes = existsSync(journalPath) ? statSync(journalPath).size : 0
    } else {
      damaged = true
      problems.push({ code: 'ERR_STORE_CORRUPT', file: SNAPSHOT, message: snapshot.message })
      // The journal holds edits on top of the unreadable snapshot: without it they mean nothing.
      const previous = readSnapshot(join(this.dir, PREVIOUS), this.shape)
      if (previous.ok) base = previous.state
      else if (existsSync(join(this.dir, PREVIOUS))) problems.push({ code: 'ERR_STORE_CORRUPT', file: PREVIOUS, message: previous.message })
      highest = base.generation
      for (const { value } of readJournal(journalPath).lines) {
        if (typeof value === 'object' && value !== null && Number.isSafeInteger((value as { g?: unknown }).g)) highest = Math.max(highest, (value as { g: number }).g)
      }
    }
    const { dir, shape } = this
    const replay = (count: number): StoredState<D> => {
      let state = base
      for (const e of journal.slice(0, count)) state = { generation: e.g, config: withItem(state.config, e.c as CollectionKey<D>, e.id, e.item as { id: string } | null) }
      return state
    }
    return {
      state: replay(journal.length),
      problems,
      highestGeneration: highest,
      damaged,
      *earlier() {
        for (let n = journal.length - 1; n >= 0; n--) yield replay(n)
        // With an unreadable snapshot the previous one is already the base.
        if (!snapshot.ok || !existsSync(join(dir, PREVIOUS))) return
        const previous = readSnapshot(join(dir, PREVIOUS), shape)
        if (previous.ok && previous.state.generation < base.generation) yield previous.state
      },
    }
  }

  /**
   * Makes `state` the stored state when the files could not be used as they are (damage, or a
   * stored state that failed validation): the current files are kept aside as
   * `<name>.rejected-<time>` for a post-mortem, then `state` is written as a clean snapshot.
   */
  replace(state: StoredState<D>): void {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    for (const name of [SNAPSHOT, JOURNAL]) {
      const path = join(this.dir, name)
      if (existsSync(path)) renameSync(path, `${path}.rejected-${stamp}`)
    }
    fsyncDir(this.dir)
    this.saveSnapshot(state)
  }

  /** Persists a whole document as a new snapshot and empties the journal. */
  saveSnapshot(state: StoredState<D>): void {
    this.keepPrevious()
    writeFileAtomic(join(this.dir, SNAPSHOT), JSON.stringify(state))
    writeFileAtomic(join(this.dir, JOURNAL), '')
    this.journalBytes = 0
  }

  /**
   * Writes a snapshot under a temporary name without blocking the event loop, so it can run
   * while the kernel applies the same state; nothing is the stored state until commit().
   */
  async stageSnapshot(state: StoredState<D>): Promise<StagedSnapshot> {
    await new Promise((resolve) => setImmediate(resolve))
    const path = join(this.dir, SNAPSHOT)
    const tmp = `${path}.staged-${process.pid}`
    const file = await open(tmp, 'w', 0o600)
    try {
      await file.writeFile(JSON.stringify(state))
      await file.sync()
    } finally {
      await file.close()
    }
    return {
      commit: () => {
        this.keepPrevious()
        renameSync(tmp, path)
        fsyncDir(this.dir)
        writeFileAtomic(join(this.dir, JOURNAL), '')
        this.journalBytes = 0
      },
      abort: () => rmSync(tmp, { force: true }),
    }
  }

  /**
   * Keeps the snapshot about to be replaced as config.prev.json, by a hard link: config.json
   * itself stays in place until the new one is renamed over it, so a crash never leaves none.
   */
  private keepPrevious(): void {
    const current = join(this.dir, SNAPSHOT)
    if (!existsSync(current)) return
    const previous = join(this.dir, PREVIOUS)
    try {
      rmSync(previous, { force: true })
      linkSync(current, previous)
    } catch {
      // Only a last resort for an unreadable snapshot: never a reason to fail a save.
    }
  }

  /** Persists one item edit (item null = delete) at generation `generation`. */
  appendItem(generation: number, collection: CollectionKey<D>, id: string, item: unknown, current: () => StoredState<D>): void {
    const line = JSON.stringify({ g: generation, c: collection, id, item }) + '\n'
    if (this.journalBytes + line.length > COMPACT_AFTER_BYTES) {
      this.saveSnapshot(current())
      return
    }
    const path = join(this.dir, JOURNAL)
    appendFileSync(path, line, { mode: 0o600 })
    const fd = openSync(path, 'r+')
    try { fsyncSync(fd) } finally { closeSync(fd) }
    this.journalBytes += line.length
  }
}

import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { StoreError } from '../errors.ts'
import { emptyConfig, type CollectionName, type RouterConfig } from '../model/config.ts'
import { withItem } from '../model/items.ts'
import { readJsonLines } from './json-lines.ts'

/**
 * The persisted desired state: a snapshot (`config.json`: generation + document), written
 * temp + fsync + rename + fsync(dir), and a journal (`journal.ndjson`) of item edits since
 * the snapshot, each appended and fsynced, so an item edit with 10,000 items present writes one
 * line, not the whole document. The journal is folded into a new snapshot when it grows.
 * A torn last journal line (crash mid-append) is ignored: that edit was never acknowledged.
 */

export interface StoredState { generation: number; config: RouterConfig }

/** A snapshot written and fsynced under a temporary name: commit() makes it the state, abort() drops it. */
export interface StagedSnapshot {
  commit(): void
  abort(): void
}

interface JournalEntry { g: number; c: CollectionName; id: string; item: unknown }

const SNAPSHOT = 'config.json'
const JOURNAL = 'journal.ndjson'
const COMPACT_AFTER_BYTES = 4 * 1024 * 1024

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try { fsyncSync(fd) } finally { closeSync(fd) }
}

export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`
  const fd = openSync(tmp, 'w', 0o600)
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally { closeSync(fd) }
  renameSync(tmp, path)
  fsyncDir(join(path, '..'))
}

export class ConfigStore {
  private journalBytes = 0

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  }

  /** Loads the snapshot and replays the journal. A missing store is generation 0, empty. */
  load(): StoredState {
    // Files a crashed daemon left half-way (never the state: only a rename makes them that).
    for (const name of readdirSync(this.dir)) {
      const pid = /\.(?:tmp|staged)-(\d+)$/.exec(name)?.[1]
      if (pid !== undefined && Number(pid) !== process.pid) rmSync(join(this.dir, name), { force: true })
    }
    const snapshotPath = join(this.dir, SNAPSHOT)
    let state: StoredState = { generation: 0, config: emptyConfig() }
    if (existsSync(snapshotPath)) {
      try {
        state = JSON.parse(readFileSync(snapshotPath, 'utf8')) as StoredState
      } catch (err) {
        throw new StoreError(`cannot read ${snapshotPath}`, { cause: err })
      }
      // A snapshot written before a collection existed lacks it: the collection was empty then.
      state.config = { ...emptyConfig(), ...state.config }
    }
    const journalPath = join(this.dir, JOURNAL)
    for (const entry of readJsonLines<JournalEntry>(journalPath)) {
      if (entry.g <= state.generation) continue
      state = { generation: entry.g, config: withItem(state.config, entry.c, entry.id, entry.item as never) }
    }
    if (existsSync(journalPath)) this.journalBytes = statSync(journalPath).size
    return state
  }

  /** Persists a whole document as a new snapshot and empties the journal. */
  saveSnapshot(state: StoredState): void {
    writeFileAtomic(join(this.dir, SNAPSHOT), JSON.stringify(state))
    writeFileAtomic(join(this.dir, JOURNAL), '')
    this.journalBytes = 0
  }

  /**
   * Writes a snapshot under a temporary name without blocking the event loop, so it can run
   * while the kernel applies the same state; nothing is the stored state until commit().
   */
  async stageSnapshot(state: StoredState): Promise<StagedSnapshot> {
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
        renameSync(tmp, path)
        fsyncDir(this.dir)
        writeFileAtomic(join(this.dir, JOURNAL), '')
        this.journalBytes = 0
      },
      abort: () => rmSync(tmp, { force: true }),
    }
  }

  /** Persists one item edit (item null = delete) at generation `generation`. */
  appendItem(generation: number, collection: CollectionName, id: string, item: unknown, current: () => StoredState): void {
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

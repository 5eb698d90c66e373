import { existsSync, readFileSync } from 'node:fs'
import { StoreError } from '../errors.ts'

/**
 * Reads an append-only journal of JSON lines, in order. A torn last line is a write a crash
 * interrupted and is skipped; a bad line anywhere else is damage and throws a StoreError.
 * A missing file has no lines.
 */
export function readJsonLines<T>(path: string): T[] {
  if (!existsSync(path)) return []
  const lines = readFileSync(path, 'utf8').split('\n')
  const out: T[] = []
  for (const [i, line] of lines.entries()) {
    if (line === '') continue
    try {
      out.push(JSON.parse(line) as T)
    } catch (err) {
      if (lines.slice(i + 1).every((l) => l === '')) break
      throw new StoreError(`${path}: journal line ${i + 1} is corrupt`, { cause: err })
    }
  }
  return out
}

/** One parsed journal line: its value and its 1-based line number. */
export interface JournalLine { value: unknown; line: number }

export interface JournalScan {
  /** Lines that parsed, up to (not including) the first damaged one. */
  lines: JournalLine[]
  /** Bytes from the start up to the end of the last whole line kept: where a torn tail is cut. */
  keepBytes: number
  /** The torn tail (1-based line where it starts), when the file ends in one. */
  tornAt: number | undefined
  /** The first line that is not JSON while whole lines follow it: damage, not a torn write. */
  damaged: { line: number; message: string } | undefined
  /** Values of lines after the damaged one that still parse (e.g. to learn the highest generation used). */
  afterDamage: unknown[]
}

const NEWLINE = 0x0a

/**
 * Pure. Splits a journal into parsed lines. Every acknowledged line was written whole,
 * newline included, and fsynced before the answer, so bytes after the last newline are a write
 * a crash cut short (never acknowledged), and so is a last line that does not parse. Both are
 * the torn tail: a writer must cut it before appending, or the next line would be glued onto it.
 */
function scanJsonLines(bytes: Buffer): JournalScan {
  const scan: JournalScan = { lines: [], keepBytes: 0, tornAt: undefined, damaged: undefined, afterDamage: [] }
  let start = 0
  let line = 0
  while (start < bytes.length) {
    line++
    const end = bytes.indexOf(NEWLINE, start)
    if (end === -1) {
      if (scan.damaged === undefined) scan.tornAt = line
      break
    }
    const text = bytes.toString('utf8', start, end)
    start = end + 1
    if (text.trim() === '') {
      if (scan.damaged === undefined) scan.keepBytes = start
      continue
    }
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (err) {
      if (scan.damaged !== undefined) continue
      if (bytes.subarray(start).every((b) => b === NEWLINE || b === 0x20)) { scan.tornAt = line; break }
      scan.damaged = { line, message: (err as Error).message }
      continue
    }
    if (scan.damaged !== undefined) scan.afterDamage.push(value)
    else {
      scan.lines.push({ value, line })
      scan.keepBytes = start
    }
  }
  return scan
}

/** Reads and scans a journal file; a missing file is an empty journal. */
export function readJournal(path: string): JournalScan {
  return scanJsonLines(existsSync(path) ? readFileSync(path) : Buffer.alloc(0))
}

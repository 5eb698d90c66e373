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

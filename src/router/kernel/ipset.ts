import type { Runner } from '../../core/exec.ts'
import { runBatch } from './restore.ts'

/** ipset through `ipset restore` batches; reads with `ipset list`. */

/**
 * `exist`: ipset's -exist, under which an entry added again or a missing entry deleted is no
 * error (what an undo needs: it cannot know which buffered lines ran, see stages/ipset.ts).
 */
export async function restoreIpsets(runner: Runner, payload: string, { exist = false }: { exist?: boolean } = {}): Promise<void> {
  if (payload.trim() !== '') await runBatch(runner, 'ipset', exist ? ['-exist', 'restore'] : ['restore'], payload, { timeoutMs: 120_000 })
}

/** Pure. Parses `ipset save` output into set → sorted members. */
export function parseIpsetSave(text: string): Map<string, string[]> {
  const sets = new Map<string, string[]>()
  for (const line of text.split('\n')) {
    const parts = line.split(' ')
    if (parts[0] === 'create' && parts[1] !== undefined) sets.set(parts[1], [])
    else if (parts[0] === 'add' && parts[1] !== undefined && parts[2] !== undefined) sets.get(parts[1])?.push(parts[2])
  }
  for (const members of sets.values()) members.sort()
  return sets
}

/** Pure. Parses `ipset save` output into set → its `create` line after the name (type and options). */
export function parseIpsetHeaders(text: string): Map<string, string> {
  const headers = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (!line.startsWith('create ')) continue
    const space = line.indexOf(' ', 7)
    if (space !== -1) headers.set(line.slice(7, space), line.slice(space + 1))
  }
  return headers
}

/** One `ipset save`: every set's members (sorted) and its create options. */
export async function readIpsets(runner: Runner): Promise<{ members: Map<string, string[]>; headers: Map<string, string> }> {
  const text = (await runner.run('ipset', ['save'], { timeoutMs: 60_000 })).stdout
  return { members: parseIpsetSave(text), headers: parseIpsetHeaders(text) }
}

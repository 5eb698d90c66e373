import type { Runner } from '../../core/exec.ts'
import { runBatch } from './restore.ts'

/**
 * iptables through restore/save batches only: one process per apply, whatever the rule count.
 * Each table in one restore is committed as one nf_tables transaction; across tables the
 * caller (reconcile/apply.ts) rolls back tables that committed before a failing one.
 */

export async function restoreIptables(runner: Runner, payload: string, opts: { noflush: boolean }): Promise<void> {
  await runBatch(runner, 'iptables-restore', ['-w', '5', ...(opts.noflush ? ['--noflush'] : [])], payload, { timeoutMs: 120_000 })
}

export async function saveIptables(runner: Runner, table?: string): Promise<string> {
  const args = table === undefined ? [] : ['-t', table]
  return (await runner.run('iptables-save', args, { timeoutMs: 60_000 })).stdout
}

/** What `iptables-save` shows of one table: chain → rule lines (after `-A <chain> `), and policies. */
export interface SavedTable {
  chains: Map<string, string[]>
  policies: Map<string, string>
}

/** Pure. Parses iptables-save output (all tables) into per-table chain maps. */
export function parseSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>()
  let current: SavedTable | undefined
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      current = { chains: new Map(), policies: new Map() }
      tables.set(line.slice(1), current)
    } else if (current === undefined || line.startsWith('#') || line === 'COMMIT') {
      continue
    } else if (line.startsWith(':')) {
      const [name = '', policy = '-'] = line.slice(1).split(' ')
      current.chains.set(name, [])
      current.policies.set(name, policy)
    } else if (line.startsWith('-A ')) {
      const rest = line.slice(3)
      const space = rest.indexOf(' ')
      const chain = space === -1 ? rest : rest.slice(0, space)
      current.chains.get(chain)?.push(space === -1 ? '' : rest.slice(space + 1))
    }
  }
  return tables
}

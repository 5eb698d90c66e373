import type { Runner } from '../../core/exec.ts'
import { ruleTag } from '../render/names.ts'

/**
 * Packet counters of owned rules, read with one `iptables-save -c` of one table. Rules are
 * found by their `svm:<kind>:<id>` comment, so a counter follows its item whatever chain or
 * position the rule has.
 */

/** Pure. Packets per id of the rules whose comment is `svm:<kind>:<id>` in `iptables-save -c` text. */
export function parseRuleCounters(saved: string, kind: string): Map<string, number> {
  const counts = new Map<string, number>()
  const marker = `--comment ${ruleTag(kind, '')}`
  const quoted = `--comment "${ruleTag(kind, '')}`
  for (const line of saved.split('\n')) {
    if (!line.startsWith('[')) continue
    const bare = line.indexOf(marker)
    const inQuotes = bare === -1 ? line.indexOf(quoted) : -1
    if (bare === -1 && inQuotes === -1) continue
    const rest = bare !== -1 ? line.slice(bare + marker.length) : line.slice(inQuotes + quoted.length)
    const end = rest.search(bare !== -1 ? /\s|$/ : /"|$/)
    const id = rest.slice(0, end)
    const packets = Number(line.slice(1, line.indexOf(':')))
    if (Number.isFinite(packets)) counts.set(id, (counts.get(id) ?? 0) + packets)
  }
  return counts
}

/** Packets per id of the `svm:<kind>:<id>` rules of one table. */
export async function readRuleCounters(runner: Runner, table: string, kind: string): Promise<Map<string, number>> {
  const { stdout } = await runner.run('iptables-save', ['-c', '-t', table], { timeoutMs: 10_000 })
  return parseRuleCounters(stdout, kind)
}

import { formatTable, type RenderedTable, type TableName } from '../render/iptables/table.ts'

/**
 * Pure. Plans iptables changes as restore text. With no previous state (start-up, drift
 * repair, after a failure) every owned table is replaced whole. Otherwise only owned chains
 * whose lines changed are touched, with `--noflush`: a declared chain is flushed and refilled,
 * a vanished chain is flushed first and deleted last (after whatever jumped to it was rewritten).
 * A chain whose order does not matter (RenderedTable.unordered) that changed by a few lines
 * gets just those `-D`/`-A` lines: iptables-nft then need not rewrite it. Its kernel order may
 * then differ from the rendering; nothing depends on that order, and drift checks compare
 * rule counts.
 */

/** Up to this many changed lines an unordered chain is edited rather than rewritten. */
const EDIT_LIMIT = 16

/** Pure. Lines only in `was` and lines only in `now` (rules of one chain are unique). */
function lineDiff(was: readonly string[], now: readonly string[]): { removed: string[]; added: string[] } {
  const before = new Set(was)
  const after = new Set(now)
  return { removed: was.filter((l) => !after.has(l)), added: now.filter((l) => !before.has(l)) }
}

export interface IptablesPlan {
  kind: 'full' | 'partial' | 'none'
  /** restore text per table, in apply order; tables with no change are absent. */
  tables: { name: TableName; text: string }[]
  /** Owned chains written (full: all). */
  chainsWritten: number
  rulesWritten: number
}

function sameBuiltins(a: RenderedTable, b: RenderedTable): boolean {
  return a.builtins === b.builtins || JSON.stringify(a.builtins) === JSON.stringify(b.builtins)
}

function sameLines(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export function planFull(desired: readonly RenderedTable[]): IptablesPlan {
  let rules = 0
  let chains = 0
  for (const t of desired) {
    chains += t.chains.size
    for (const r of t.chains.values()) rules += r.length
  }
  // A role that owns no table (secgroup) writes none: a restore would still take the lock.
  if (desired.length === 0) return { kind: 'none', tables: [], chainsWritten: 0, rulesWritten: 0 }
  return { kind: 'full', tables: desired.map((t) => ({ name: t.name, text: formatTable(t) })), chainsWritten: chains, rulesWritten: rules }
}

/** Pure. The partial restore that takes the kernel from `previous` to `desired`. */
export function planIptables(previous: readonly RenderedTable[] | undefined, desired: readonly RenderedTable[]): IptablesPlan {
  if (previous === undefined) return planFull(desired)
  const before = new Map(previous.map((t) => [t.name, t]))
  if (desired.some((t) => { const b = before.get(t.name); return b === undefined || !sameBuiltins(b, t) })) return planFull(desired)
  const tables: IptablesPlan['tables'] = []
  let chainsWritten = 0
  let rulesWritten = 0
  for (const t of desired) {
    const old = before.get(t.name) as RenderedTable
    // A rendering of an item edit shares the tables it did not touch.
    if (old === t) continue
    const changed: [string, readonly string[]][] = []
    const edited: [string, { removed: string[]; added: string[] }][] = []
    for (const [name, rules] of t.chains) {
      const was = old.chains.get(name)
      if (was !== undefined && (was === rules || sameLines(was, rules))) continue
      if (was !== undefined && t.unordered.has(name) && old.unordered.has(name)) {
        const diff = lineDiff(was, rules)
        if (diff.removed.length + diff.added.length <= EDIT_LIMIT) {
          edited.push([name, diff])
          continue
        }
      }
      changed.push([name, rules])
    }
    const removed = [...old.chains.keys()].filter((name) => !t.chains.has(name))
    if (changed.length === 0 && edited.length === 0 && removed.length === 0) continue
    const out: string[] = [`*${t.name}`]
    for (const [name] of changed) out.push(`:${name} - [0:0]`)
    for (const name of removed) out.push(`:${name} - [0:0]`)
    for (const [name, diff] of edited) {
      for (const r of diff.removed) out.push(`-D ${name} ${r}`)
      for (const r of diff.added) out.push(`-A ${name} ${r}`)
      rulesWritten += diff.removed.length + diff.added.length
    }
    for (const [name, rules] of changed) {
      for (const r of rules) out.push(`-A ${name} ${r}`)
      rulesWritten += rules.length
    }
    for (const name of removed) out.push(`-X ${name}`)
    out.push('COMMIT')
    chainsWritten += changed.length + edited.length + removed.length
    tables.push({ name: t.name, text: out.join('\n') + '\n' })
  }
  return { kind: tables.length === 0 ? 'none' : 'partial', tables, chainsWritten, rulesWritten }
}

/**
 * Pure. The tables without every rule that names one of `sets` in a set match. Restored whole,
 * they release those sets so they can be destroyed and created anew. Every set match routerd
 * renders is positive and leads to ACCEPT or DNAT, so the rules left out only let through
 * less, never more.
 */
export function withoutSetReferences(tables: readonly RenderedTable[], sets: readonly string[]): RenderedTable[] {
  const names = new Set(sets)
  const usesOne = (rule: string): boolean => {
    for (const m of ` ${rule} `.matchAll(/ --match-set (\S+) /g)) if (names.has(m[1] as string)) return true
    return false
  }
  return tables.map((t) => {
    const builtins: RenderedTable['builtins'] = {}
    for (const [name, b] of Object.entries(t.builtins)) builtins[name] = { policy: b.policy, rules: b.rules.filter((r) => !usesOne(r)) }
    const chains = new Map([...t.chains].map(([name, rules]) => [name, rules.filter((r) => !usesOne(r))]))
    return { ...t, builtins, chains }
  })
}

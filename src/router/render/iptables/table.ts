import { ruleArgs } from '../rule-line.ts'

/**
 * A rendered iptables table: built-in chains (policy + a few fixed jumps) and owned chains
 * (name → rule lines without the `-A <chain>` head). Owned chains are the unit of incremental
 * change: plan/iptables.ts rewrites exactly the chains whose lines differ.
 */

export type TableName = 'raw' | 'mangle' | 'nat' | 'filter'

const BUILTIN_CHAINS: Record<TableName, readonly string[]> = {
  raw: ['PREROUTING', 'OUTPUT'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
}

export interface BuiltinChain { policy: 'ACCEPT' | 'DROP'; rules: string[] }

export interface RenderedTable {
  name: TableName
  builtins: Record<string, BuiltinChain>
  /**
   * Owned chains in render order; Map keeps that order for the restore text. A chain's rule list
   * is never changed once rendered: renderings of item edits share the lists of unchanged chains.
   */
  chains: Map<string, readonly string[]>
  /** Section banner (restore-file comment) to print before a chain. */
  banners: Map<string, string>
  /**
   * Chains whose rules match disjoint traffic or share one verdict, so their order does not
   * matter: the planner may change them by single `-D`/`-A` lines instead of a rewrite.
   */
  unordered: Set<string>
}

export class TableBuilder {
  readonly table: RenderedTable
  /** The rule lists this builder made (it may add to them); shared ones are not among them. */
  private readonly own = new Map<string, string[]>()
  constructor(name: TableName) {
    const builtins: Record<string, BuiltinChain> = {}
    for (const chain of BUILTIN_CHAINS[name]) builtins[chain] = { policy: 'ACCEPT', rules: [] }
    this.table = { name, builtins, chains: new Map(), banners: new Map(), unordered: new Set() }
  }

  policy(builtin: string, policy: 'ACCEPT' | 'DROP'): void {
    this.builtin(builtin).policy = policy
  }

  jumpFrom(builtin: string, chain: string): void {
    this.builtin(builtin).rules.push(ruleArgs('-j', chain))
  }

  /** Declares an owned chain (idempotent) and returns its rule list. */
  chain(name: string, banner?: string): string[] {
    let rules = this.own.get(name)
    if (rules === undefined) {
      const shared = this.table.chains.get(name)
      if (shared !== undefined) throw new Error(`chain ${name} holds a shared rule list`)
      rules = []
      this.own.set(name, rules)
      this.table.chains.set(name, rules)
      if (banner !== undefined) this.table.banners.set(name, banner)
    }
    return rules
  }

  /**
   * Declares an owned chain whose rules are exactly `rules`, a list that is never changed (other
   * renderings may hold it too). The chain must be new.
   */
  shareChain(name: string, rules: readonly string[]): void {
    if (this.table.chains.has(name)) throw new Error(`chain ${name} declared twice`)
    this.table.chains.set(name, rules)
  }

  /** Declares that the order of `name`'s rules does not matter (see RenderedTable.unordered). */
  unordered(name: string): void {
    this.table.unordered.add(name)
  }

  add(chain: string, ...args: string[]): void {
    this.chain(chain).push(ruleArgs(...args))
  }

  private builtin(name: string): BuiltinChain {
    const b = this.table.builtins[name]
    if (b === undefined) throw new Error(`no built-in chain ${name} in ${this.table.name}`)
    return b
  }
}

/** Pure. The whole table as iptables-restore input (replaces the table when restored without --noflush). */
export function formatTable(table: RenderedTable): string {
  const out: string[] = [`*${table.name}`]
  for (const [name, b] of Object.entries(table.builtins)) out.push(`:${name} ${b.policy} [0:0]`)
  for (const name of table.chains.keys()) out.push(`:${name} - [0:0]`)
  for (const [name, b] of Object.entries(table.builtins)) for (const r of b.rules) out.push(`-A ${name} ${r}`)
  for (const [name, rules] of table.chains) {
    const banner = table.banners.get(name)
    if (banner !== undefined) out.push(`# --- ${banner} ---`)
    for (const r of rules) out.push(`-A ${name} ${r}`)
  }
  out.push('COMMIT')
  return out.join('\n') + '\n'
}

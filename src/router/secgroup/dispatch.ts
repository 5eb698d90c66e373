/**
 * Pure. A dispatch tree over device names, so that a packet finds its port's chain in a few
 * rule evaluations whatever the number of ports, instead of walking one rule per port: iptables
 * and ebtables match interfaces only one by one, but both take a name prefix (`vnet1+`).
 *
 * A node whose names share a longer prefix P than the one that led to it (path compression)
 * holds, in order: the port named exactly P (if any), then per next character c, the one port
 * whose name starts with Pc, or a jump to the node for Pc when several do. A node with at most
 * FANOUT names lists them all. With names like vnet10…vnet1009, a packet evaluates at most ~10
 * rules per level and 3 levels: ~30 rules for 1,000 ports instead of up to 2,000; and the levels
 * stay few, which matters: nf_tables allows 16 nested jumps.
 */

const FANOUT = 16

export interface DispatchTarget {
  name: string
  /** The rule's action for this name (e.g. `['-j', 'SVM-SGT-…']`). */
  action: string[]
}

export interface DispatchMatch {
  /** The match of one exact name (e.g. `['-m', 'physdev', '--physdev-in', name, '--physdev-is-bridged']`). */
  exact: (name: string) => string[]
  /** The match of every name starting with `prefix` (e.g. `['-m', 'physdev', '--physdev-in', `${prefix}+`]`). */
  prefix: (prefix: string) => string[]
}

/**
 * The chains of the tree rooted at `root` (first) for `targets`; `nodeChain(prefix)` names the
 * chain of an inner node.
 */
export function dispatchTree(root: string, targets: readonly DispatchTarget[], match: DispatchMatch, nodeChain: (prefix: string) => string): [string, string[][]][] {
  const chains: [string, string[][]][] = []
  const sorted = [...targets].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const build = (chain: string, entry: string, names: readonly DispatchTarget[]) => {
    let prefix = entry
    const rules: string[][] = []
    chains.push([chain, rules])
    if (names.length <= FANOUT) {
      for (const t of names) rules.push([...match.exact(t.name), ...t.action])
      return
    }
    prefix = commonPrefix(names.map((t) => t.name))
    const exact = names.filter((t) => t.name.length === prefix.length)
    for (const t of exact) rules.push([...match.exact(t.name), ...t.action])
    const byNext = new Map<string, DispatchTarget[]>()
    for (const t of names) {
      if (t.name.length === prefix.length) continue
      const next = prefix + t.name[prefix.length]
      const group = byNext.get(next)
      if (group === undefined) byNext.set(next, [t])
      else group.push(t)
    }
    for (const [next, group] of byNext) {
      if (group.length === 1) {
        const only = group[0] as DispatchTarget
        rules.push([...match.exact(only.name), ...only.action])
        continue
      }
      const child = nodeChain(next)
      rules.push([...match.prefix(next), '-j', child])
      build(child, next, group)
    }
  }
  build(root, '', sorted)
  return chains
}

function commonPrefix(names: readonly string[]): string {
  let prefix = names[0] ?? ''
  for (const name of names) while (!name.startsWith(prefix)) prefix = prefix.slice(0, -1)
  return prefix
}

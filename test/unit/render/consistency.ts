import { MAX_CHAIN_NAME, MAX_IPSET_NAME } from '../../../src/router/render/names.ts'

/**
 * Structural checks on rendered iptables-restore text (kube-proxy's checkIPTablesRuleJumps):
 * every jump target is declared or built in, every --match-set names a rendered set, names fit
 * the kernel's limits, every declared owned chain is reachable from a built-in chain.
 */
const TARGETS = new Set(['ACCEPT', 'DROP', 'RETURN', 'REJECT', 'DNAT', 'SNAT', 'MASQUERADE', 'MARK', 'CONNMARK', 'LOG', 'SET'])

export function checkRestoreConsistency(rules: string, ipsets: string): string[] {
  const problems: string[] = []
  const sets = new Set([...ipsets.matchAll(/^create (\S+)/gm)].map((m) => m[1]))
  for (const s of sets) if ((s as string).length > MAX_IPSET_NAME) problems.push(`ipset name too long: ${s}`)
  for (const block of rules.split(/^(?=\*)/m)) {
    const table = /^\*(\w+)/.exec(block)?.[1] ?? '?'
    const declared = new Set([...block.matchAll(/^:(\S+)/gm)].map((m) => m[1] as string))
    const jumps = new Map<string, string[]>()
    for (const m of block.matchAll(/^-A (\S+) (.*)$/gm)) {
      const [, chain, rest] = m as unknown as [string, string, string]
      if (!declared.has(chain)) problems.push(`${table}: rule in undeclared chain ${chain}`)
      const target = /-j (\S+)/.exec(rest)?.[1]
      if (target !== undefined && !TARGETS.has(target)) {
        if (!declared.has(target)) problems.push(`${table}: ${chain} jumps to undeclared ${target}`)
        jumps.set(chain, [...(jumps.get(chain) ?? []), target])
      }
      for (const s of rest.matchAll(/--match-set (\S+)/g)) if (!sets.has(s[1])) problems.push(`${table}: unknown set ${s[1]}`)
    }
    for (const chain of declared) if (chain.length > MAX_CHAIN_NAME) problems.push(`${table}: chain name too long: ${chain}`)
    const reached = new Set<string>()
    const walk = (c: string) => { if (reached.has(c)) return; reached.add(c); for (const t of jumps.get(c) ?? []) walk(t) }
    for (const c of declared) if (!c.startsWith('SVM-')) walk(c)
    for (const c of declared) if (c.startsWith('SVM-') && c !== 'SVM-CANARY' && !reached.has(c)) problems.push(`${table}: ${c} is never jumped to`)
  }
  return problems
}

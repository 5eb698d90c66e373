import { parseSave } from '../kernel/iptables.ts'
import { normalizeRule } from '../plan/drift.ts'
import { SG_SET_PREFIX } from '../render/names.ts'
import type { RenderedSecGroups, SgHook } from './render.ts'

/**
 * Pure. Takes a hypervisor host from what its tools show to a security-group rendering, touching
 * only what is ours: chains whose names start with SG_CHAIN_PREFIX, sets starting with
 * SG_SET_PREFIX, and our jumps at the head of FORWARD and INPUT. Every restore is `--noflush`:
 * each of our chains is declared (so flushed) and refilled, our chains the rendering no longer
 * has are flushed and deleted in the same transaction, a missing jump is inserted at position 1,
 * sets we no longer use are destroyed after the rules stopped naming them.
 */

export const SG_CHAIN_PREFIX = 'SVM-SG'
export { SG_SET_PREFIX }

/** What the host's tools show: `iptables-save -t filter`, `ip6tables-save -t filter`, `ebtables-save`, `ipset list -n`. */
export interface SgKernelView {
  ipv4: string
  ipv6: string
  ebtables: string
  sets: readonly string[]
}

/** The batches, in the order they run: sets, the three rule restores, then the set deletions. */
export interface SgPlan {
  ipsets: string
  ipv4: string
  ipv6: string
  ebtables: string
  destroySets: string
}

const TOOLS = { ipv4: 'iptables', ipv6: 'ip6tables', ebtables: 'ebtables' } as const

/** The chains (with their rule lines) and the builtin chains' rules of one filter table in restore or save text. */
function filterTable(text: string): { chains: Map<string, string[]>; builtin: (chain: string) => string[] } {
  const table = parseSave(text).get('filter')
  const chains = new Map<string, string[]>()
  for (const [name, rules] of table?.chains ?? []) if (name.startsWith(SG_CHAIN_PREFIX)) chains.set(name, rules)
  return { chains, builtin: (chain) => table?.chains.get(chain) ?? [] }
}

function hookPresent(hook: SgHook, builtinRules: readonly string[]): boolean {
  const want = normalizeRule(hook.rule)
  return builtinRules.some((r) => normalizeRule(r) === want)
}

/** Pure. The batches that take `kernel` to `desired`. */
export function planSecGroups(desired: RenderedSecGroups, kernel: SgKernelView): SgPlan {
  const rules = (family: 'ipv4' | 'ipv6' | 'ebtables'): string => {
    const want = filterTable(desired[family])
    const have = filterTable(kernel[family])
    const body = desired[family].replace(/COMMIT\n$/, '')
    const hooks = desired.hooks.filter((h) => h.tool === TOOLS[family] && !hookPresent(h, have.builtin(h.chain)))
    const stale = [...have.chains.keys()].filter((name) => !want.chains.has(name))
    return [
      body,
      ...hooks.map((h) => `-I ${h.chain} 1 ${h.rule}\n`),
      ...stale.map((name) => `-F ${name}\n`),
      ...stale.map((name) => `-X ${name}\n`),
      'COMMIT\n',
    ].join('')
  }
  const wanted = new Set(desired.ipsets.split('\n').flatMap((l) => (l.startsWith('create ') ? [l.split(' ')[1] as string] : [])))
  const staleSets = kernel.sets.filter((s) => s.startsWith(SG_SET_PREFIX) && !wanted.has(s))
  return {
    ipsets: desired.ipsets,
    ipv4: rules('ipv4'),
    ipv6: rules('ipv6'),
    ebtables: rules('ebtables'),
    destroySets: staleSets.map((s) => `destroy ${s}\n`).join(''),
  }
}

/**
 * Pure. What differs between `desired` and the kernel, our objects only: a chain missing,
 * unexpected or with other rules (normalized as iptables-save prints them), a jump missing.
 * Empty when they agree.
 */
export function secGroupDrift(desired: RenderedSecGroups, kernel: SgKernelView): string[] {
  const problems: string[] = []
  for (const family of ['ipv4', 'ipv6', 'ebtables'] as const) {
    const tool = TOOLS[family]
    const want = filterTable(desired[family])
    const have = filterTable(kernel[family])
    for (const [name, rules] of want.chains) {
      const got = have.chains.get(name)
      if (got === undefined) { problems.push(`${tool} ${name}: missing`); continue }
      const a = rules.map(normalizeRule)
      const b = got.map(normalizeRule)
      if (a.length !== b.length || a.some((r, i) => r !== b[i])) problems.push(`${tool} ${name}: ${b.length} rules differ from the ${a.length} rendered`)
    }
    for (const name of have.chains.keys()) if (!want.chains.has(name)) problems.push(`${tool} ${name}: not rendered`)
    for (const hook of desired.hooks) {
      if (hook.tool === tool && !hookPresent(hook, have.builtin(hook.chain))) problems.push(`${tool} ${hook.chain}: the jump "${hook.rule}" is missing`)
    }
  }
  return problems
}

import { parseSave } from '../kernel/iptables.ts'
import { planIpsets, type IpsetPlan } from '../plan/ipset.ts'
import { normalizeRule } from '../plan/drift.ts'
import { SG_SET_PREFIX } from '../render/names.ts'
import { nfacctCreateLine, SG_COUNTER_PREFIX } from './counters.ts'
import type { RenderedSecGroups, SgChain, SgHook } from './render.ts'

/**
 * Pure. Takes a hypervisor host to a security-group rendering, touching only what is ours:
 * chains whose names start with SG_CHAIN_PREFIX, sets starting with SG_SET_PREFIX, and our jumps
 * at the head of FORWARD and INPUT. Every restore is `--noflush` and names only the chains whose
 * rules differ from what the host holds: one is declared (so flushed) and refilled, our chains
 * the rendering no longer has are flushed and deleted in the same transaction, a missing jump is
 * inserted at position 1. Set members are added and deleted one by one (plan/ipset.ts); sets we
 * no longer use are destroyed after the rules stopped naming them. Drop counters (nfacct) are
 * created before the rules that count into them and deleted after.
 *
 * What the host holds is either what it showed (planSecGroups: at start, after a refusal, on a
 * drift repair) or what the last apply left (planSecGroupsFrom: every edit in between), so that
 * an edit among 1,000 ports costs what it changes, not a read of every rule on the host.
 */

export const SG_CHAIN_PREFIX = 'SVM-SG'
export { SG_SET_PREFIX }

/** What the host's tools show: `iptables-save`, `ip6tables-save` (every table), `ebtables-save`, every set's members, every counter's name (`nfacct list`). */
export interface SgKernelView {
  ipv4: string
  ipv6: string
  ebtables: string
  sets: ReadonlyMap<string, readonly string[]>
  counters: ReadonlySet<string>
}

/** The batches, in the order they run: set lines before the rules, the three rule restores ('' when nothing changes), set lines after. */
export interface SgPlan {
  ipsets: IpsetPlan
  /** `nfacct restore` lines creating counters (before the rules), and counters to delete (after them). */
  createCounters: string[]
  deleteCounters: string[]
  ipv4: string
  ipv6: string
  ebtables: string
  /** Chains declared and rules written, over the three tables. */
  chains: number
  rules: number
}

type Family = 'ipv4' | 'ipv6' | 'ebtables'
const FAMILIES: readonly Family[] = ['ipv4', 'ipv6', 'ebtables']
const TOOLS = { ipv4: 'iptables', ipv6: 'ip6tables', ebtables: 'ebtables' } as const

export const ownedSgSet = (name: string) => name.startsWith(SG_SET_PREFIX)

/** Set name → members, as a rendering has them. */
export function renderedMembers(r: RenderedSecGroups): Map<string, readonly string[]> {
  return new Map(r.sets.map((s) => [s.name, s.entries]))
}

type Table = 'filter' | 'raw'

/** Our chains (normalized rules) and the builtin chains' rules of one table in save text. */
function kernelTable(text: string, name: Table = 'filter'): { chains: Map<string, string[]>; builtin: (chain: string) => string[] } {
  const table = parseSave(text).get(name)
  const chains = new Map<string, string[]>()
  for (const [name, rules] of table?.chains ?? []) if (name.startsWith(SG_CHAIN_PREFIX)) chains.set(name, rules.map(normalizeRule))
  return { chains, builtin: (chain) => table?.chains.get(chain) ?? [] }
}

function hookPresent(hook: SgHook, builtinRules: readonly string[]): boolean {
  const want = normalizeRule(hook.rule)
  return builtinRules.some((r) => normalizeRule(r) === want)
}

/** The chains of the tables our jumps are in (filter: INPUT, FORWARD; raw: PREROUTING, OUTPUT). */
const BUILTIN_CHAINS = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'] as const
const jumpsToOurs = (rule: string) => /(^|\s)-[jg] SVM-SG\S*$/.test(rule.trim())

/** Our jumps the host holds in one table that `hooks` (the rendering's, for this table) do not have: `-D` lines, as the host printed them. */
function strayHooks(builtin: (chain: string) => string[], hooks: readonly SgHook[]): string[] {
  const wanted = new Set(hooks.map((h) => `${h.chain} ${normalizeRule(h.rule)}`))
  return BUILTIN_CHAINS.flatMap((chain) => builtin(chain)
    .filter((rule) => jumpsToOurs(rule) && !wanted.has(`${chain} ${normalizeRule(rule)}`))
    .map((rule) => `-D ${chain} ${rule}`))
}

/** The rendering's jumps into one table of one family's tool. */
const hooksIn = (hooks: readonly SgHook[], family: Family, table: Table) => hooks.filter((h) => h.tool === TOOLS[family] && h.table === table)

const hookKey = (h: SgHook) => `${h.tool}|${h.table}|${h.chain}|${h.rule}`

/** The jumps `desired` has and `previous` had not (to insert), and those it no longer has (to delete). */
function hookChanges(previous: readonly SgHook[], desired: readonly SgHook[]): { add: SgHook[]; remove: SgHook[] } {
  const had = new Set(previous.map(hookKey))
  const has = new Set(desired.map(hookKey))
  return { add: desired.filter((h) => !had.has(hookKey(h))), remove: previous.filter((h) => !has.has(hookKey(h))) }
}

const sameRules = (a: readonly string[], b: readonly string[] | undefined) => b !== undefined && (a === b || (a.length === b.length && a.every((r, i) => r === b[i])))

/** Up to this many rules deleted and inserted, a chain is edited in place rather than flushed and refilled. */
const IN_PLACE_LIMIT = 8

/**
 * Pure. The edit that takes a chain's rules from `was` to `now` in place: the rule numbers to
 * delete (highest first, so none shifts another) and the rules to insert at their numbers (lowest
 * first), around the longest common head and tail. Undefined when more than IN_PLACE_LIMIT rules
 * change: then the chain is refilled. A flush and refill costs the kernel every rule of the chain
 * again (~17 ms for a port's 16 rules on a host of 80,000); one rule inserted costs one.
 */
export function inPlaceEdit(was: readonly string[], now: readonly string[]): { deletes: number[]; inserts: [number, string][] } | undefined {
  let head = 0
  while (head < was.length && head < now.length && was[head] === now[head]) head++
  let tail = 0
  while (tail < was.length - head && tail < now.length - head && was[was.length - 1 - tail] === now[now.length - 1 - tail]) tail++
  const removed = was.length - head - tail
  const added = now.length - head - tail
  if (removed + added > IN_PLACE_LIMIT) return undefined
  return {
    deletes: Array.from({ length: removed }, (_, k) => head + removed - k),
    inserts: Array.from({ length: added }, (_, k) => [head + 1 + k, now[head + k] as string]),
  }
}

/** Each wanted chain's rules as the host holds them (`was(i)` for `want[i]`; undefined: it has no such chain), and the chains of ours it holds that are not wanted. */
interface Alignment {
  was: (i: number) => readonly string[] | undefined
  stale: readonly string[]
}

/** `want` looked up by name in `have` (our chains as the host holds them). */
function alignByName(want: readonly SgChain[], have: ReadonlyMap<string, readonly string[]>): Alignment {
  const wanted = new Set(want.map(([name]) => name))
  return { was: (i) => have.get((want[i] as SgChain)[0]), stale: [...have.keys()].filter((name) => !wanted.has(name)) }
}

/**
 * Pure. `want` aligned with the chains of the previous rendering: position by position while the
 * names agree from the head and from the tail, by name only in between. An edit keeps the order
 * of every chain it did not touch (ports by id, their chains in a fixed order), so an edit among
 * 1,000 ports looks up a few chains by name instead of hashing 6,000.
 */
export function alignWithPrevious(previous: readonly SgChain[], want: readonly SgChain[]): Alignment {
  const nameAt = (chains: readonly SgChain[], i: number) => (chains[i] as SgChain)[0]
  let head = 0
  while (head < previous.length && head < want.length && nameAt(previous, head) === nameAt(want, head)) head++
  let tail = 0
  while (tail < previous.length - head && tail < want.length - head && nameAt(previous, previous.length - 1 - tail) === nameAt(want, want.length - 1 - tail)) tail++
  const middle = alignByName(want.slice(head, want.length - tail), new Map(previous.slice(head, previous.length - tail)))
  const shift = previous.length - want.length
  return {
    was: (i) => (i < head ? (previous[i] as SgChain)[1] : i >= want.length - tail ? (previous[i + shift] as SgChain)[1] : middle.was(i - head)),
    stale: middle.stale,
  }
}

/**
 * The restore text that takes our chains from `have` (the rules of each of `want` as the host
 * holds them, compared after `normalize`, and our chains no longer wanted) to `want`, with
 * `hooks` inserted and the `unhooks` lines (`-D` of our jumps no longer rendered) run before our
 * stale chains go; '' when nothing differs. With `inPlace` (the rules in `have` are exactly ours,
 * as the previous rendering had them), iptables chains with a few rules changed are edited rule
 * by rule.
 */
function tableBatch(family: Family, table: Table, want: readonly SgChain[], have: Alignment, normalize: (rule: string) => string, hooks: readonly SgHook[], unhooks: readonly string[], inPlace = false): { text: string; chains: number; rules: number } {
  const changed: SgChain[] = []
  const edits: string[] = []
  let edited = 0
  want.forEach((chain, i) => {
    const [name, rules] = chain
    const was = have.was(i)
    if (sameRules(normalize === identity ? rules : rules.map(normalize), was)) return
    const edit = inPlace && was !== undefined && family !== 'ebtables' ? inPlaceEdit(was, rules) : undefined
    if (edit === undefined) { changed.push(chain); return }
    edited++
    for (const n of edit.deletes) edits.push(`-D ${name} ${n}`)
    for (const [n, rule] of edit.inserts) edits.push(`-I ${name} ${n} ${rule}`)
  })
  const stale = have.stale
  if (changed.length === 0 && edits.length === 0 && stale.length === 0 && hooks.length === 0 && unhooks.length === 0) return { text: '', chains: 0, rules: 0 }
  const declare = family === 'ebtables'
    // ebtables-restore --noflush does not flush a declared chain.
    ? [...changed.map(([name]) => `:${name} RETURN`), ...changed.map(([name]) => `-F ${name}`)]
    : changed.map(([name]) => `:${name} - [0:0]`)
  const lines = [
    `*${table}`,
    ...declare,
    ...changed.flatMap(([name, rules]) => rules.map((r) => `-A ${name} ${r}`)),
    ...edits,
    ...hooks.map((h) => `-I ${h.chain} 1 ${h.rule}`),
    ...unhooks,
    ...stale.map((name) => `-F ${name}`),
    ...stale.map((name) => `-X ${name}`),
    'COMMIT',
    '',
  ]
  return { text: lines.join('\n'), chains: changed.length + edited, rules: changed.reduce((n, [, rules]) => n + rules.length, 0) + edits.filter((l) => l.startsWith('-I ')).length }
}

const identity = (rule: string) => rule

/** The counters to create and to delete, from the names the host has (ours among others). */
function counterChanges(desired: RenderedSecGroups, have: ReadonlySet<string>): { createCounters: string[]; deleteCounters: string[] } {
  const wanted = new Set(desired.counters.map((c) => c.name))
  return {
    createCounters: desired.counters.filter((c) => !have.has(c.name)).map((c) => nfacctCreateLine(c.name)),
    deleteCounters: [...have].filter((name) => name.startsWith(SG_COUNTER_PREFIX) && !wanted.has(name)),
  }
}

function assemble(tables: Record<Family, { text: string; chains: number; rules: number }>, ipsets: IpsetPlan, counters: { createCounters: string[]; deleteCounters: string[] }): SgPlan {
  return {
    ipsets, ...counters, ipv4: tables.ipv4.text, ipv6: tables.ipv6.text, ebtables: tables.ebtables.text,
    chains: FAMILIES.reduce((n, f) => n + tables[f].chains, 0),
    rules: FAMILIES.reduce((n, f) => n + tables[f].rules, 0),
  }
}

/** Both tables of a family (ebtables: filter only), as one restore input. */
function familyBatch(family: Family, batch: (table: Table, want: readonly SgChain[]) => { text: string; chains: number; rules: number }, desired: RenderedSecGroups) {
  const filter = batch('filter', desired[family])
  if (family === 'ebtables') return filter
  const raw = batch('raw', desired.raw)
  return { text: filter.text + raw.text, chains: filter.chains + raw.chains, rules: filter.rules + raw.rules }
}

/** Pure. The batches that take the host, as `kernel` shows it, to `desired`. */
export function planSecGroups(desired: RenderedSecGroups, kernel: SgKernelView): SgPlan {
  const table = (family: Family) => familyBatch(family, (name, want) => {
    const have = kernelTable(kernel[family], name)
    const ours = hooksIn(desired.hooks, family, name)
    const hooks = ours.filter((h) => !hookPresent(h, have.builtin(h.chain)))
    return tableBatch(family, name, want, alignByName(want, have.chains), normalizeRule, hooks, strayHooks(have.builtin, ours))
  }, desired)
  const sets = new Map([...kernel.sets].filter(([name]) => ownedSgSet(name)))
  return assemble({ ipv4: table('ipv4'), ipv6: table('ipv6'), ebtables: table('ebtables') }, planIpsets(sets, desired.sets, ownedSgSet), counterChanges(desired, kernel.counters))
}

/**
 * Pure. The batches that take the host from `previous` (what the last apply left, with its set
 * members as applied) to `desired`: only what the edit changed. Jumps are compared with the
 * previous rendering's, not looked for on the host: the apply that left `previous` put them in,
 * and drift checks find them gone.
 */
export function planSecGroupsFrom(previous: RenderedSecGroups, members: ReadonlyMap<string, readonly string[]>, desired: RenderedSecGroups): SgPlan {
  const jumps = hookChanges(previous.hooks, desired.hooks)
  const table = (family: Family) => familyBatch(family, (name, want) => {
    const unhooks = hooksIn(jumps.remove, family, name).map((h) => `-D ${h.chain} ${h.rule}`)
    return tableBatch(family, name, want, alignWithPrevious(name === 'raw' ? previous.raw : previous[family], want), identity, hooksIn(jumps.add, family, name), unhooks, true)
  }, desired)
  const counters = previous.counters === desired.counters ? { createCounters: [], deleteCounters: [] } : counterChanges(desired, new Set(previous.counters.map((c) => c.name)))
  return assemble({ ipv4: table('ipv4'), ipv6: table('ipv6'), ebtables: table('ebtables') }, planIpsets(members, desired.sets, ownedSgSet), counters)
}

/**
 * Pure. What differs between `desired` and the kernel, our objects only: a chain missing,
 * unexpected or with other rules (normalized as the save tools print them), a jump missing, a
 * set missing or with other members. Empty when they agree.
 */
export function secGroupDrift(desired: RenderedSecGroups, kernel: SgKernelView): string[] {
  const problems: string[] = []
  for (const [family, table] of [['ipv4', 'filter'], ['ipv6', 'filter'], ['ebtables', 'filter'], ['ipv4', 'raw'], ['ipv6', 'raw']] as const) {
    const tool = table === 'raw' ? `${TOOLS[family]} raw` : TOOLS[family]
    const have = kernelTable(kernel[family], table)
    const wanted = new Set<string>()
    for (const [name, rules] of table === 'raw' ? desired.raw : desired[family]) {
      wanted.add(name)
      const got = have.chains.get(name)
      if (got === undefined) problems.push(`${tool} ${name}: missing`)
      else if (!sameRules(rules.map(normalizeRule), got)) problems.push(`${tool} ${name}: ${got.length} rules differ from the ${rules.length} rendered`)
    }
    for (const name of have.chains.keys()) if (!wanted.has(name)) problems.push(`${tool} ${name}: not rendered`)
    const ours = hooksIn(desired.hooks, family, table)
    for (const hook of ours) if (!hookPresent(hook, have.builtin(hook.chain))) problems.push(`${tool} ${hook.chain}: the jump "${hook.rule}" is missing`)
    for (const line of strayHooks(have.builtin, ours)) problems.push(`${tool} ${line.slice(3)}: a jump of ours not rendered`)
  }
  for (const set of desired.sets) {
    const got = kernel.sets.get(set.name)
    if (got === undefined) problems.push(`ipset ${set.name}: missing`)
    else if (!sameRules([...set.entries].sort(), [...got].sort())) problems.push(`ipset ${set.name}: ${got.length} members differ from the ${set.entries.length} rendered`)
  }
  const wantedSets = new Set(desired.sets.map((s) => s.name))
  for (const name of kernel.sets.keys()) if (ownedSgSet(name) && !wantedSets.has(name)) problems.push(`ipset ${name}: not rendered`)
  const missing = desired.counters.filter((c) => !kernel.counters.has(c.name))
  if (missing.length > 0) problems.push(`nfacct: ${missing.length} drop counters missing (${missing[0]?.port} ${missing[0]?.reason} first)`)
  return problems
}

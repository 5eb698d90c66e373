import { createHash } from 'node:crypto'
import { memoize } from '../../core/memo.ts'
import type { RenderedTable } from '../render/iptables/table.ts'
import { CHAIN_PREFIX } from '../render/names.ts'

/**
 * Pure. Drift by content: what differs between the rules and set members routerd applied and
 * what the kernel shows (`iptables-save`, `ipset save`). Each chain and set is reduced to a
 * digest of its normalized content; only where digests differ are the lines compared, to
 * name them. Rules are normalized so that what iptables-save prints for a rendered rule maps to
 * the same text as the rendering (it quotes comments, moves -s/-d/-i/-o/-p first, adds
 * implicit modules and /32), while a changed value (another DNAT target, port or address)
 * changes the text.
 */

/** One table as iptables-save shows it: chain → rule texts after `-A <chain> `, and policies. */
export interface KernelTable {
  chains: ReadonlyMap<string, readonly string[]>
  policies: ReadonlyMap<string, string>
}

/** Differing lines shown per chain or set at most (the digest still tells of the rest). */
const MAX_LINES_SHOWN = 20

/** Pure. `problems` of one chain or set (`where`), cut to MAX_LINES_SHOWN with a count of the rest. */
function capped(where: string, problems: string[]): string[] {
  if (problems.length <= MAX_LINES_SHOWN) return problems
  return [...problems.slice(0, MAX_LINES_SHOWN), `${where}: and ${problems.length - MAX_LINES_SHOWN} more differences`]
}

/** Pure. Splits restore/save rule text into arguments, honouring double quotes and backslashes. */
export function splitArgs(text: string): string[] {
  const out: string[] = []
  let current = ''
  let quoted = false
  let any = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string
    if (ch === '\\' && i + 1 < text.length) { current += text[++i]; any = true }
    else if (ch === '"') { quoted = !quoted; any = true }
    else if (!quoted && (ch === ' ' || ch === '\t')) {
      if (any) out.push(current)
      current = ''
      any = false
    } else { current += ch; any = true }
  }
  if (any) out.push(current)
  return out
}

const ADDRESS_OPTIONS = new Set(['-s', '--source', '-d', '--destination'])
const LONG_NAMES: Record<string, string> = {
  '--source': '-s', '--destination': '-d', '--in-interface': '-i', '--out-interface': '-o', '--protocol': '-p',
  '--jump': '-j', '--goto': '-g', '--match': '-m',
}

/**
 * Pure. A rule's canonical text. Its matches become option groups (`--dport 80`, `! -s
 * 10.0.0.0/8`), sorted: the kernel's order of matches is not ours, and matches are a
 * conjunction. `-m <module>` alone is dropped: each module's options name it already. A bare
 * address gets its /32. The target part (`-j` and what follows) keeps its order.
 */
export function normalizeRule(text: string): string {
  const args = splitArgs(text).map((a) => LONG_NAMES[a] ?? a)
  const jump = args.findIndex((a) => a === '-j' || a === '-g')
  const matches = jump === -1 ? args : args.slice(0, jump)
  const target = jump === -1 ? [] : args.slice(jump)
  const groups: string[] = []
  let group: string[] = []
  const flush = (): void => {
    if (group.length > 0 && !(group[0] === '-m' && group.length === 2) && !(group[0] === '!' && group[1] === '-m' && group.length === 3)) {
      groups.push(group.join(' '))
    }
    group = []
  }
  for (let i = 0; i < matches.length; i++) {
    const a = matches[i] as string
    if (a === '!' || (a.startsWith('-') && !/^-\d/.test(a))) {
      // A `!` opens a group unless it negates the value of the option before it (old syntax).
      if (a === '!' || group[group.length - 1] !== '!') flush()
      group.push(a)
      continue
    }
    const option = group[0] === '!' ? group[1] : group[0]
    group.push(option !== undefined && ADDRESS_OPTIONS.has(option) && !a.includes('/') ? `${a}/32` : a)
  }
  flush()
  groups.sort()
  return [...groups, ...target].join(' ')
}

/**
 * Chains found to match, by where (`table/chain`): the rendered rules (by identity) and the
 * digest of the kernel's raw text then. When both are the same at the next check, the chain
 * still matches without a line being parsed: a steady check hashes the kernel's text and
 * nothing more. Holds one small entry per owned chain (call next() before each check; chains
 * not seen in a check are forgotten).
 */
export class CleanChains {
  private previous = new Map<string, { rules: readonly string[]; raw: string }>()
  private current = new Map<string, { rules: readonly string[]; raw: string }>()

  next(): void {
    this.previous = this.current
    this.current = new Map()
  }

  matches(where: string, rules: readonly string[], raw: string): boolean {
    const seen = this.current.get(where) ?? this.previous.get(where)
    if (seen === undefined || seen.rules !== rules || seen.raw !== raw) return false
    this.current.set(where, seen)
    return true
  }

  remember(where: string, rules: readonly string[], raw: string): void {
    this.current.set(where, { rules, raw })
  }
}

/** Pure. sha256 of lines (sorted first when their order does not matter). */
function digestOf(lines: readonly string[], unordered: boolean): string {
  const list = unordered ? [...lines].sort() : lines
  const hash = createHash('sha256')
  for (const line of list) hash.update(line).update('\n')
  return hash.digest('base64')
}

/** Digests of rendered chains' normalized rules, by array identity: renderings memoize unchanged chains. */
const desiredDigests = memoize((rules: readonly string[]): { ordered: string; unordered: string } => {
  const lines = rules.map(normalizeRule)
  return { ordered: digestOf(lines, false), unordered: digestOf(lines, true) }
})

function desiredDigest(rules: readonly string[], unordered: boolean): string {
  const digests = desiredDigests(rules)
  return unordered ? digests.unordered : digests.ordered
}

/** Pure. The rendered lines missing from the kernel and the kernel's lines not rendered, as problems. */
function lineDifferences(where: string, want: readonly string[], wantText: readonly string[], have: readonly string[], haveText: readonly string[]): string[] {
  const count = (list: readonly string[]) => {
    const m = new Map<string, number>()
    for (const l of list) m.set(l, (m.get(l) ?? 0) + 1)
    return m
  }
  const wanted = count(want)
  const had = count(have)
  const out: string[] = []
  for (let i = 0; i < have.length; i++) {
    const n = had.get(have[i] as string) ?? 0
    if (n > (wanted.get(have[i] as string) ?? 0)) { out.push(`${where}: kernel has unexpected "${haveText[i]}"`); had.set(have[i] as string, n - 1) }
  }
  const had2 = count(have)
  for (let i = 0; i < want.length; i++) {
    const n = wanted.get(want[i] as string) ?? 0
    if (n > (had2.get(want[i] as string) ?? 0)) { out.push(`${where}: kernel lacks "${wantText[i]}"`); wanted.set(want[i] as string, n - 1) }
  }
  if (out.length === 0) out.push(`${where}: rules in another order`)
  return capped(where, out)
}

function chainDrift(where: string, rules: readonly string[], have: readonly string[], unordered: boolean, memo: CleanChains | undefined): string[] {
  const raw = memo === undefined ? '' : digestOf(have, false)
  if (memo?.matches(where, rules, raw) === true) return []
  const haveLines = have.map(normalizeRule)
  if (digestOf(haveLines, unordered) === desiredDigest(rules, unordered)) {
    memo?.remember(where, rules, raw)
    return []
  }
  return lineDifferences(where, rules.map(normalizeRule), rules, haveLines, have)
}

/** Pure. Content differences between a rendered table and the kernel's (empty = none); `memo` spares parsing chains unchanged since they last matched. */
export function tableDrift(table: RenderedTable, kernel: KernelTable | undefined, memo?: CleanChains): string[] {
  if (kernel === undefined) return [`table ${table.name} missing`]
  const problems: string[] = []
  for (const [name, b] of Object.entries(table.builtins)) {
    const policy = kernel.policies.get(name) ?? 'ACCEPT'
    if (policy !== b.policy) problems.push(`${table.name}/${name}: policy ${policy}, want ${b.policy}`)
    problems.push(...chainDrift(`${table.name}/${name}`, b.rules, kernel.chains.get(name) ?? [], false, memo))
  }
  for (const [name, rules] of table.chains) {
    const have = kernel.chains.get(name)
    if (have === undefined) problems.push(`${table.name}/${name} missing`)
    else problems.push(...chainDrift(`${table.name}/${name}`, rules, have, table.unordered.has(name), memo))
  }
  for (const name of kernel.chains.keys()) {
    if (name.startsWith(CHAIN_PREFIX) && !table.chains.has(name)) problems.push(`${table.name}/${name} foreign`)
  }
  return problems
}

/** Applied set members sorted, and their digest, by array identity (renderings keep unchanged sets' arrays). */
const sortedMembers = memoize((members: readonly string[]): { sorted: string[]; digest: string } => {
  const sorted = [...members].sort()
  return { sorted, digest: digestOf(sorted, false) }
})

/**
 * Pure. Content differences between the applied sets and the kernel's: members by digest,
 * then named; type and options (`options`: set → normalized create options, rendered and kernel).
 */
export function setDrift(applied: ReadonlyMap<string, readonly string[]>, kernel: ReadonlyMap<string, readonly string[]>,
  options: { want: ReadonlyMap<string, string>; have: ReadonlyMap<string, string> }): string[] {
  const problems: string[] = []
  for (const [name, members] of applied) {
    const have = kernel.get(name)
    if (have === undefined) { problems.push(`ipset ${name} missing`); continue }
    const want = options.want.get(name)
    const got = options.have.get(name)
    if (want !== undefined && got !== undefined && want !== got) problems.push(`ipset ${name}: created as "${got}", want "${want}"`)
    const wanted = sortedMembers(members)
    const sorted = [...have].sort()
    if (digestOf(sorted, false) === wanted.digest) continue
    const inKernel = new Set(sorted)
    const inApplied = new Set(wanted.sorted)
    const out = [
      ...sorted.filter((m) => !inApplied.has(m)).map((m) => `ipset ${name}: kernel has unexpected member ${m}`),
      ...wanted.sorted.filter((m) => !inKernel.has(m)).map((m) => `ipset ${name}: kernel lacks member ${m}`),
    ]
    problems.push(...capped(`ipset ${name}`, out))
  }
  return problems
}

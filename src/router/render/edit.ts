import type { CollectionName, PortForward, RouterConfig } from '../model/config.ts'
import type { HostFacts } from '../model/facts.ts'
import { normalizePortForward, type NPortForward } from '../model/normalize.ts'
import type { RoleName } from '../model/roles.ts'
import type { RenderedRouter } from './rendered.ts'
import { forwardParts } from './iptables/item-parts.ts'
import { openPortsSet, writeIngressBlock, type IngressBlock } from './iptables/mangle.ts'
import { dnatChain, writeDnatBlock, type DnatBlock } from './iptables/nat.ts'
import { portIndexChains, withoutPortRule, withPortRule, type PortIndex, type PortKeyedRule } from './iptables/port-buckets.ts'
import { TableBuilder, type RenderedTable } from './iptables/table.ts'
import type { IpSetSpec } from './ipset.ts'
import { OPEN_PORTS_SET, ownedChain } from './names.ts'
import { natKeyOf } from './nat-state.ts'
import type { RuntimeFacts } from '../model/runtime.ts'

/**
 * Pure. Renders a config that differs from an already rendered one by one port forward (added,
 * replaced or removed: what an item edit makes), from that rendering, with the same result as
 * rendering it whole. Only what the forward touches is built again: its bucket chains in nat
 * and mangle and their parent chains (render/iptables/port-buckets.ts keeps each bucket's rule
 * list), its members of the open-ports set, its own source sets and its NAT state key.
 * Everything else is the earlier rendering's, shared: the planner then finds the unchanged
 * chains and sets by identity, and an edit with 10,000 forwards present costs about what it
 * costs with ten.
 *
 *   rendering r0 of config c0 ──remember──▶ EditMemo { c0, facts, role, DNAT and ingress blocks per public IP }
 *   c1 = c0 with forward f0 → f1 ──renderEdit(r0, c1)──▶ r1 (r0's tables with the blocks of f0's and f1's IPs rewritten)
 *
 * A config whose only changes are in collections no renderer reads (UNRENDERED) has the
 * earlier rendering itself. Anything else (another collection changed, other host facts, the first forward of an IP
 * without static NAT or its last one, two forwards with the same port, more than one forward
 * changed) answers undefined: the caller renders the whole config.
 */

/** What an edit needs besides the rendering itself: the input it was made from, and the blocks its forwards went into. */
export interface EditMemo {
  config: RouterConfig
  facts: HostFacts
  role: RoleName
  /** The run-time facts it was rendered with (the same object, or the edit is not taken). */
  runtime: RuntimeFacts
  /** Per public IP with a destination NAT chain. */
  dnat: ReadonlyMap<string, DnatBlock>
  /** Per public IP, in render order (the order of their segments in the open-ports set). */
  ingress: ReadonlyMap<string, IngressBlock>
}

// Keyed by the rendering: the memo lives exactly as long as the rendering it describes.
const memos = new WeakMap<RenderedRouter, EditMemo>()

/** Records how `rendered` was made, so a rendering of an edit of it can start from it (a cache: output never depends on it). */
export function rememberRendering(rendered: RenderedRouter, memo: EditMemo): void {
  memos.set(rendered, memo)
}

/** At most this many forwards may differ between the two configs (one replaced: one out, one in). */
const MAX_REMOVED = 1
const MAX_ADDED = 1

/** Pure. The part of `after` that differs from `before`: items out of `before` and into `after` at index `start`. */
function changedWindow<T>(before: readonly T[], after: readonly T[]): { start: number; removed: T[]; added: T[]; endBefore: number; endAfter: number } {
  let start = 0
  const common = Math.min(before.length, after.length)
  while (start < common && before[start] === after[start]) start++
  let endBefore = before.length
  let endAfter = after.length
  while (endBefore > start && endAfter > start && before[endBefore - 1] === after[endAfter - 1]) {
    endBefore--
    endAfter--
  }
  return { start, removed: before.slice(start, endBefore), added: after.slice(start, endAfter), endBefore, endAfter }
}

/** Members of the open-ports set that the forwards items[from..to) of `ip` hold (each item rendered before: memo lookups only). */
function openMembersOf(items: readonly PortForward[], from: number, to: number, ip: string): number {
  let n = 0
  for (let i = from; i < to; i++) {
    const r = normalizePortForward(items[i] as PortForward)
    if (r.publicIp === ip) n += forwardParts(r).openEntries?.length ?? 0
  }
  return n
}

/**
 * Pure. Where the members of the forward at items[before..after) of `ip` start in the open-ports
 * set: after the segments of the IPs before it, and after the members of its IP's forwards before
 * it in the config. `own`: its members already in the set (counted in its IP's segment). The
 * forwards around the edit are counted on the shorter side: none for an edit of the last forward.
 */
function openPosition(ingress: ReadonlyMap<string, IngressBlock>, ip: string, items: readonly PortForward[], before: number, after: number, own: number): number {
  let start = 0
  for (const [other, block] of ingress) {
    if (other === ip) break
    start += block.openEntries
  }
  const segment = (ingress.get(ip) as IngressBlock).openEntries
  return before <= items.length - after
    ? start + openMembersOf(items, 0, before, ip)
    : start + segment - own - openMembersOf(items, after, items.length, ip)
}

/** Collections only the services read (the VMs' metadata): an edit of them renders nothing anew. */
const UNRENDERED: ReadonlySet<string> = new Set<CollectionName>(['vmData'])

/** Pure. `list` with `remove` items from `at` replaced by `insert`, built in one allocation (the open-ports set holds one member per forwarded port). */
function spliced<T>(list: readonly T[], at: number, remove: number, insert: readonly T[]): T[] {
  const out = new Array<T>(list.length - remove + insert.length)
  let k = 0
  for (let i = 0; i < at; i++) out[k++] = list[i] as T
  for (const item of insert) out[k++] = item
  for (let i = at + remove; i < list.length; i++) out[k++] = list[i] as T
  return out
}

function portRule(r: NPortForward, line: string): PortKeyedRule {
  return { protocol: r.protocol, start: r.publicStart, end: r.publicEnd, line }
}

/** Pure. `table` with the chains of the blocks `fresh` renders (keyed by their parent chain) in place of `stale` chains. */
function spliceChains(table: RenderedTable, fresh: ReadonlyMap<string, RenderedTable>, stale: ReadonlySet<string>): RenderedTable {
  const chains = new Map<string, readonly string[]>()
  const unordered = new Set<string>()
  for (const [name, rules] of table.chains) {
    const block = fresh.get(name)
    if (block !== undefined) {
      for (const [n, r] of block.chains) {
        chains.set(n, r)
        if (block.unordered.has(n)) unordered.add(n)
      }
    } else if (!stale.has(name)) {
      chains.set(name, rules)
      if (table.unordered.has(name)) unordered.add(name)
    }
  }
  // The parent chains stay (with their banners); the full rendering declares chains in this order too.
  return { name: table.name, builtins: table.builtins, chains, banners: table.banners, unordered }
}

/**
 * Pure (apart from remembering its result for the next edit). The rendering of `config` for
 * `facts` and `role`, made from `previous` (see the module comment), or undefined when `config`
 * is not `previous`'s with one port forward added, replaced or removed.
 */
export function renderEdit(previous: RenderedRouter, config: RouterConfig, facts: HostFacts, role: RoleName, runtime: RuntimeFacts): RenderedRouter | undefined {
  const memo = memos.get(previous)
  if (memo === undefined || memo.facts !== facts || memo.role !== role || memo.runtime !== runtime) return undefined
  if (memo.config === config) return previous
  const before = memo.config
  const changed = [...new Set([...Object.keys(before), ...Object.keys(config)])]
    .filter((key) => before[key as keyof RouterConfig] !== config[key as keyof RouterConfig])
  if (changed.every((key) => UNRENDERED.has(key))) {
    // Nothing any renderer reads changed: the rendering in force is this config's too.
    memos.set(previous, { ...memo, config })
    return previous
  }
  if (role !== 'router' || changed.some((key) => key !== 'portForwards')) return undefined
  const window = changedWindow(before.portForwards, config.portForwards)
  if (window.removed.length > MAX_REMOVED || window.added.length > MAX_ADDED) return undefined
  const out = window.removed[0] === undefined ? undefined : normalizePortForward(window.removed[0])
  const into = window.added[0] === undefined ? undefined : normalizePortForward(window.added[0])

  const dnat = new Map(memo.dnat)
  const ingress = new Map(memo.ingress)
  const openSet = previous.ipsets.find((s) => s.name === OPEN_PORTS_SET)
  let open: string[] = openSet?.entries ?? []
  const setsOut = new Set<string>()
  const setsIn: IpSetSpec[] = []
  const touched = new Set<string>()

  // Out first, in second; each step keeps dnat, ingress and open consistent with one another.
  for (const [r, adding] of [[out, false], [into, true]] as const) {
    if (r === undefined) continue
    const ip = r.publicIp
    const block = ingress.get(ip)
    // A forward of an IP the config does not list renders no rule (check.ts refuses it).
    if (block === undefined) continue
    const parts = forwardParts(r)
    const dnatBlock = dnat.get(ip)
    if (dnatBlock === undefined) return undefined
    const edit = (index: PortIndex, line: string) => (adding ? withPortRule(index, portRule(r, line)) : withoutPortRule(index, portRule(r, line)))
    const forwards = edit(dnatBlock.forwards, parts.dnatLine)
    // The IP's DNAT chain and the jumps to it come and go with its first and last forward.
    if (forwards === undefined || (forwards.size === 0 && dnatBlock.staticLine === undefined)) return undefined
    dnat.set(ip, { ...dnatBlock, forwards })
    if (parts.ingressLine !== undefined) {
      const ports = edit(block.ports, parts.ingressLine)
      if (ports === undefined) return undefined
      ingress.set(ip, { ...block, ports })
    } else {
      const members = parts.openEntries ?? []
      // Where the forward's members are (out) or go (in): the same place in the config's order.
      const at = adding
        ? openPosition(ingress, ip, config.portForwards, window.start, window.endAfter, 0)
        : openPosition(ingress, ip, before.portForwards, window.start, window.endBefore, members.length)
      if (!adding && members.some((m, k) => open[at + k] !== m)) return undefined
      open = spliced(open, at, adding ? 0 : members.length, adding ? members : [])
      const sign = adding ? 1 : -1
      ingress.set(ip, { ...block, openForwards: block.openForwards + sign, openEntries: block.openEntries + sign * members.length })
    }
    for (const s of parts.sets) {
      if (adding) setsIn.push(s)
      else setsOut.add(s.name)
    }
    touched.add(ip)
  }

  // Sets: the earlier ones without the forward's and the open-ports set, then the new ones, by name as rendered.
  const kept = previous.ipsets.filter((s) => s.name !== OPEN_PORTS_SET && !setsOut.has(s.name))
  const names = new Set(kept.map((s) => s.name))
  if (setsIn.some((s) => names.has(s.name))) return undefined
  const ipsets = [...kept, ...setsIn, ...(open.length > 0 ? [openPortsSet(open)] : [])].sort((a, b) => (a.name < b.name ? -1 : 1))

  const tables = previous.tables.map((t) => {
    if (touched.size === 0 || (t.name !== 'nat' && t.name !== 'mangle')) return t
    const fresh = new Map<string, RenderedTable>()
    const stale = new Set<string>()
    for (const ip of touched) {
      const tb = new TableBuilder(t.name)
      if (t.name === 'nat') {
        const parent = dnatChain(ip)
        writeDnatBlock(tb, ip, dnat.get(ip) as DnatBlock)
        fresh.set(parent, tb.table)
        for (const name of portIndexChains((memo.dnat.get(ip) as DnatBlock).forwards)) stale.add(name)
      } else {
        const parent = ownedChain('FWI', ip)
        writeIngressBlock(tb, ip, ingress.get(ip) as IngressBlock)
        fresh.set(parent, tb.table)
        for (const name of portIndexChains((memo.ingress.get(ip) as IngressBlock).ports)) stale.add(name)
      }
    }
    return spliceChains(t, fresh, stale)
  })

  const rendered: RenderedRouter = { tables, ipsets, net: previous.net, nat: editNatKeys(previous.nat, out, into), warnings: previous.warnings }
  rememberRendering(rendered, { config, facts, role, runtime, dnat, ingress })
  return rendered
}

/** Pure. `nat` (see natKeys) with the UDP key of `out` removed and that of `into` added. */
function editNatKeys(nat: ReadonlyMap<string, string[]>, out: NPortForward | undefined, into: NPortForward | undefined): Map<string, string[]> {
  const removed = out === undefined ? undefined : natKeyOf(out)
  const added = into === undefined ? undefined : natKeyOf(into)
  if (removed === undefined && added === undefined) return nat as Map<string, string[]>
  const next = new Map(nat)
  if (removed !== undefined && out !== undefined) {
    const list = next.get(out.publicIp) ?? []
    const at = list.indexOf(removed)
    const rest = at === -1 ? list : [...list.slice(0, at), ...list.slice(at + 1)]
    if (rest.length === 0) next.delete(out.publicIp)
    else next.set(out.publicIp, rest)
  }
  if (added !== undefined && into !== undefined) {
    const list = next.get(into.publicIp) ?? []
    let at = 0
    while (at < list.length && (list[at] as string) <= added) at++
    next.set(into.publicIp, [...list.slice(0, at), added, ...list.slice(at)])
  }
  return new Map([...next].sort(([a], [b]) => (a < b ? -1 : 1)))
}

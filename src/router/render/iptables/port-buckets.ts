import { ruleArgs } from '../rule-line.ts'
import { ownedChain } from '../names.ts'
import type { TableBuilder } from './table.ts'

/**
 * Spreads many port-keyed rules of one public IP over small chains so that (a) a new
 * connection walks at most ~16 + 16 + 256 rules however many forwards exist, and (b) adding or
 * removing one rule rewrites one small chain, not thousands of rules.
 *
 *   parent ──(wide rules: ranges spanning more than one bucket)
 *          ├─ -p tcp --dport 0:4095      → SVM-<role>-<digest(key|tcp|s0)>     (super bucket)
 *          │                                 ├─ -p tcp --dport 1024:1279 → SVM-<role>-<digest(key|tcp|4)>
 *          │                                 └─ …                              (bucket: the rules)
 *          └─ -p udp --dport 4096:8191   → …
 *
 * The layout is first built as a PortIndex (immutable: an edit copies the path to the one
 * bucket it touches and shares the rest), then written into a table. A bucket's rule list is
 * kept with the bucket, so writing an index whose buckets are those of an earlier rendering
 * hands the same arrays to the table again: render/edit.ts renders an item edit that way, and
 * the planner sees unchanged chains by identity.
 */

export interface PortKeyedRule {
  protocol: 'tcp' | 'udp'
  start: number
  end: number
  /** The whole rule text, port match included (see portRuleLine), already quoted. */
  line: string
}

/** Rules of one bucket (all of one protocol, starting in one 256-port block), sorted by start port. */
interface Bucket {
  readonly chain: string
  /** Start port of each rule, parallel to `lines`. */
  readonly starts: readonly number[]
  /** The chain's rules; never changed once built (tables share it). */
  readonly lines: readonly string[]
}

interface SuperBucket {
  readonly chain: string
  readonly buckets: ReadonlyMap<number, Bucket>
  /** Its buckets' keys in port order, and the chain's rules: the jumps to them in that order. */
  readonly order: readonly number[]
  readonly jumps: readonly string[]
}

/** The bucketed layout of one parent chain's port-keyed rules. */
export interface PortIndex {
  readonly role: string
  readonly key: string
  /** Rules spanning more than one bucket, in port order: they stay in the parent chain. */
  readonly wide: readonly PortKeyedRule[]
  readonly protocols: ReadonlyMap<string, ReadonlyMap<number, SuperBucket>>
  /** Rules held, wide ones included. */
  readonly size: number
}

const BUCKET_BITS = 8
const SUPER_BITS = 12

function range(lo: number, bits: number): string {
  return `${lo << bits}:${((lo + 1) << bits) - 1}`
}

/** Pure. A port-keyed rule's text: the port match, then `tail` (already quoted). */
export function portRuleLine(protocol: string, start: number, end: number, tail: string): string {
  return `${portMatch(protocol, start, end)} ${tail}`
}

function portMatch(protocol: string, start: number, end: number): string {
  return `-p ${protocol} -m ${protocol} --dport ${start === end ? start : `${start}:${end}`}`
}

const byPort = (a: PortKeyedRule, b: PortKeyedRule) => (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : a.start - b.start)

const isWide = (r: PortKeyedRule) => r.start >> BUCKET_BITS !== r.end >> BUCKET_BITS

function superChain(role: string, key: string, protocol: string, s: number): string {
  return ownedChain(role, `${key}|${protocol}|s${s}`)
}

const numeric = (a: number, b: number) => a - b

function superBucket(chain: string, protocol: string, buckets: ReadonlyMap<number, Bucket>): SuperBucket {
  const order = [...buckets.keys()].sort(numeric)
  const jumps = order.map((b) => ruleArgs('-p', protocol, '-m', protocol, '--dport', range(b, BUCKET_BITS), '-j', (buckets.get(b) as Bucket).chain))
  return { chain, buckets, order, jumps }
}

function bucketChain(role: string, key: string, protocol: string, b: number): string {
  return ownedChain(role, `${key}|${protocol}|b${b}`)
}

/**
 * Pure. The layout of `rules` (in their input order: rules with the same protocol and start port
 * keep it) under one parent chain; `role` and `key` name the chains.
 */
export function indexPortRules(role: string, key: string, rules: readonly PortKeyedRule[]): PortIndex {
  const grouped = new Map<string, Map<number, Map<number, PortKeyedRule[]>>>()
  const wide: PortKeyedRule[] = []
  for (const r of rules) {
    if (isWide(r)) {
      wide.push(r)
      continue
    }
    let byProto = grouped.get(r.protocol)
    if (byProto === undefined) grouped.set(r.protocol, (byProto = new Map()))
    const s = r.start >> SUPER_BITS
    let bySuper = byProto.get(s)
    if (bySuper === undefined) byProto.set(s, (bySuper = new Map()))
    const b = r.start >> BUCKET_BITS
    let bucket = bySuper.get(b)
    if (bucket === undefined) bySuper.set(b, (bucket = []))
    bucket.push(r)
  }
  const protocols = new Map<string, Map<number, SuperBucket>>()
  for (const [protocol, bySuper] of grouped) {
    const supers = new Map<number, SuperBucket>()
    for (const [s, byBucket] of bySuper) {
      const buckets = new Map<number, Bucket>()
      for (const [b, items] of byBucket) {
        items.sort(byPort)
        buckets.set(b, { chain: bucketChain(role, key, protocol, b), starts: items.map((r) => r.start), lines: items.map((r) => r.line) })
      }
      supers.set(s, superBucket(superChain(role, key, protocol, s), protocol, buckets))
    }
    protocols.set(protocol, supers)
  }
  return { role, key, wide: wide.sort(byPort), protocols, size: rules.length }
}

/** Pure apart from writing into `tb`. Writes the layout under `parent` (already declared), creating its chains. */
export function writePortIndex(tb: TableBuilder, parent: string, index: PortIndex): void {
  const parentRules = tb.chain(parent)
  for (const r of index.wide) parentRules.push(r.line)
  for (const protocol of [...index.protocols.keys()].sort()) {
    const supers = index.protocols.get(protocol) as ReadonlyMap<number, SuperBucket>
    for (const s of [...supers.keys()].sort(numeric)) {
      const sup = supers.get(s) as SuperBucket
      parentRules.push(ruleArgs('-p', protocol, '-m', protocol, '--dport', range(s, SUPER_BITS), '-j', sup.chain))
      // Bucket jumps cover disjoint port ranges; bucket rules are forwards (disjoint ports) or
      // ACCEPTs: neither list depends on order.
      tb.shareChain(sup.chain, sup.jumps)
      tb.unordered(sup.chain)
      for (const b of sup.order) {
        const bucket = sup.buckets.get(b) as Bucket
        tb.shareChain(bucket.chain, bucket.lines)
        tb.unordered(bucket.chain)
      }
    }
  }
}

/** Pure. The super-bucket and bucket chains of a layout (not the parent). */
export function portIndexChains(index: PortIndex): string[] {
  const out: string[] = []
  for (const supers of index.protocols.values()) {
    for (const sup of supers.values()) {
      out.push(sup.chain)
      for (const bucket of sup.buckets.values()) out.push(bucket.chain)
    }
  }
  return out
}

/** Pure. The sorted position for `r` among `list` (after every rule that sorts before it), or -1 if one has its protocol and start port. */
function insertionPoint(list: readonly PortKeyedRule[], r: PortKeyedRule): number {
  let i = 0
  while (i < list.length && byPort(list[i] as PortKeyedRule, r) < 0) i++
  return i < list.length && byPort(list[i] as PortKeyedRule, r) === 0 ? -1 : i
}

function withBucket(index: PortIndex, protocol: string, s: number, b: number, bucket: Bucket | undefined, size: number): PortIndex {
  const supers = new Map(index.protocols.get(protocol) ?? [])
  const old = supers.get(s)
  const buckets = new Map(old?.buckets ?? [])
  if (bucket === undefined) buckets.delete(b)
  else buckets.set(b, bucket)
  if (buckets.size === 0) supers.delete(s)
  // The same buckets with other rules: the jumps to them stay.
  else if (old !== undefined && old.buckets.has(b) && bucket !== undefined) supers.set(s, { ...old, buckets })
  else supers.set(s, superBucket(old?.chain ?? superChain(index.role, index.key, protocol, s), protocol, buckets))
  const protocols = new Map(index.protocols)
  if (supers.size === 0) protocols.delete(protocol)
  else protocols.set(protocol, supers)
  return { ...index, protocols, size }
}

/**
 * Pure. The layout with rule `r` added, or undefined when a rule with the same protocol and
 * start port is there already (their order would then be their input order, which the index
 * does not know: the caller lays out the whole list again).
 */
export function withPortRule(index: PortIndex, r: PortKeyedRule): PortIndex | undefined {
  if (isWide(r)) {
    const at = insertionPoint(index.wide, r)
    if (at === -1) return undefined
    return { ...index, wide: [...index.wide.slice(0, at), r, ...index.wide.slice(at)], size: index.size + 1 }
  }
  const s = r.start >> SUPER_BITS
  const b = r.start >> BUCKET_BITS
  const old = index.protocols.get(r.protocol)?.get(s)?.buckets.get(b)
  const starts = old?.starts ?? []
  let at = 0
  while (at < starts.length && (starts[at] as number) < r.start) at++
  if (starts[at] === r.start) return undefined
  const bucket: Bucket = {
    chain: old?.chain ?? bucketChain(index.role, index.key, r.protocol, b),
    starts: [...starts.slice(0, at), r.start, ...starts.slice(at)],
    lines: [...(old?.lines ?? []).slice(0, at), r.line, ...(old?.lines ?? []).slice(at)],
  }
  return withBucket(index, r.protocol, s, b, bucket, index.size + 1)
}

/** Pure. The layout without rule `r` (matched by its line), or undefined when it does not hold it. */
export function withoutPortRule(index: PortIndex, r: PortKeyedRule): PortIndex | undefined {
  if (isWide(r)) {
    const at = index.wide.findIndex((w) => w.line === r.line)
    if (at === -1) return undefined
    return { ...index, wide: [...index.wide.slice(0, at), ...index.wide.slice(at + 1)], size: index.size - 1 }
  }
  const s = r.start >> SUPER_BITS
  const b = r.start >> BUCKET_BITS
  const old = index.protocols.get(r.protocol)?.get(s)?.buckets.get(b)
  const at = old === undefined ? -1 : old.lines.indexOf(r.line)
  if (old === undefined || at === -1) return undefined
  const bucket: Bucket | undefined = old.lines.length === 1 ? undefined : {
    chain: old.chain,
    starts: [...old.starts.slice(0, at), ...old.starts.slice(at + 1)],
    lines: [...old.lines.slice(0, at), ...old.lines.slice(at + 1)],
  }
  return withBucket(index, r.protocol, s, b, bucket, index.size - 1)
}

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
 */

export interface PortKeyedRule {
  protocol: 'tcp' | 'udp'
  start: number
  end: number
  /** The whole rule text, port match included (see portRuleLine), already quoted. */
  line: string
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

/** Pure apart from writing into `tb`. Adds the rules under `parent`, creating bucket chains as needed. */
export function addPortBucketed(tb: TableBuilder, parent: string, role: string, key: string, rules: readonly PortKeyedRule[]): void {
  const supers = new Map<string, Map<number, Map<number, PortKeyedRule[]>>>()
  const wide: PortKeyedRule[] = []
  for (const r of rules) {
    if (r.start >> BUCKET_BITS !== r.end >> BUCKET_BITS) {
      wide.push(r)
      continue
    }
    let byProto = supers.get(r.protocol)
    if (byProto === undefined) supers.set(r.protocol, (byProto = new Map()))
    const s = r.start >> SUPER_BITS
    let bySuper = byProto.get(s)
    if (bySuper === undefined) byProto.set(s, (bySuper = new Map()))
    const b = r.start >> BUCKET_BITS
    let bucket = bySuper.get(b)
    if (bucket === undefined) bySuper.set(b, (bucket = []))
    bucket.push(r)
  }
  const parentRules = tb.chain(parent)
  for (const r of wide.sort(byPort)) parentRules.push(r.line)
  for (const protocol of [...supers.keys()].sort()) {
    const bySuper = supers.get(protocol) as Map<number, Map<number, PortKeyedRule[]>>
    for (const s of [...bySuper.keys()].sort((a, b) => a - b)) {
      const superChain = ownedChain(role, `${key}|${protocol}|s${s}`)
      tb.add(parent, '-p', protocol, '-m', protocol, '--dport', range(s, SUPER_BITS), '-j', superChain)
      const byBucket = bySuper.get(s) as Map<number, PortKeyedRule[]>
      const superRules = tb.chain(superChain)
      // Bucket jumps cover disjoint port ranges; bucket rules are forwards (disjoint ports) or
      // ACCEPTs: neither list depends on order.
      tb.unordered(superChain)
      for (const b of [...byBucket.keys()].sort((x, y) => x - y)) {
        const bucketChain = ownedChain(role, `${key}|${protocol}|b${b}`)
        superRules.push(ruleArgs('-p', protocol, '-m', protocol, '--dport', range(b, BUCKET_BITS), '-j', bucketChain))
        const bucketRules = tb.chain(bucketChain)
        tb.unordered(bucketChain)
        const items = (byBucket.get(b) as PortKeyedRule[]).sort(byPort)
        for (const r of items) bucketRules.push(r.line)
      }
    }
  }
}

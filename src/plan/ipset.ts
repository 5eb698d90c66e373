import type { IpSetSpec } from '../render/iptables/match.ts'
import { IPSET_SWAP_SUFFIX } from '../render/names.ts'

/**
 * Pure. Plans ipset changes. `before` runs ahead of iptables: new sets are created and filled,
 * changed sets are rebuilt under a temporary name and swapped in (atomic for any rule using
 * them); all creates come before the swaps so a bad entry fails before anything live changed.
 * `after` runs once iptables no longer references them: sets that are gone are destroyed.
 */

export interface IpsetPlan {
  before: string
  after: string
  /** Sets created by `before` that nothing references yet, with the line that creates each:
   *  destroyed if a later step fails (only those whose line ran, so a name squatted by someone
   *  else is never destroyed). */
  created: { name: string; line: number }[]
}

function header(s: IpSetSpec, name: string): string {
  return `create ${name} ${s.type} family inet hashsize 1024 maxelem 65536`
}

/** `current` is set name → sorted members as the kernel (or the last apply) has them. */
export function planIpsets(current: ReadonlyMap<string, readonly string[]>, desired: readonly IpSetSpec[], owned: (name: string) => boolean): IpsetPlan {
  const creates: string[] = []
  const swaps: string[] = []
  const created: IpsetPlan['created'] = []
  for (const s of desired) {
    const have = current.get(s.name)
    const want = [...s.entries].sort()
    if (have !== undefined && have.length === want.length && have.every((e, i) => e === want[i])) continue
    const target = have === undefined ? s.name : s.name + IPSET_SWAP_SUFFIX
    creates.push(header(s, target))
    created.push({ name: target, line: creates.length })
    for (const e of want) creates.push(`add ${target} ${e}`)
    if (have !== undefined) {
      swaps.push(`swap ${target} ${s.name}`)
      swaps.push(`destroy ${target}`)
    }
  }
  const wanted = new Set(desired.map((s) => s.name))
  const after = [...current.keys()].filter((name) => owned(name) && !wanted.has(name)).map((name) => `destroy ${name}`)
  const join = (lines: string[]) => (lines.length === 0 ? '' : lines.join('\n') + '\n')
  return { before: join([...creates, ...swaps]), after: join(after), created }
}

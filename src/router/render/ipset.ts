/**
 * The ipsets the firewall renderers ask for, and how one is created. Both a full restore file
 * (goldens, first apply) and the planner's incremental batches create sets with the same
 * `create` line, and drift compares the kernel's options against it.
 */

export interface IpSetSpec {
  name: string
  type: 'hash:net' | 'hash:ip,port' | 'hash:ip'
  /** The address family (default inet: IPv4). */
  family?: 'inet6'
  maxelem: number
  /** In the form `ipset save` prints them (so kernel and plan compare as text); any order. */
  entries: string[]
  /** The item the set belongs to, for the restore-file comment. */
  owner: string
  /** Seconds a member lives unless added again (the set's default `timeout`). */
  timeout?: number
  /**
   * The kernel fills it (`-j SET --add-set`, e.g. a load balancer's client affinity): routerd
   * creates it and leaves its members alone. No fill, no member diff, no member drift: a full
   * apply or a drift repair must not forget which backend a client was on.
   */
  kernelFilled?: boolean
}

/** Pure. The `create` arguments after the set's name: its type and options. */
export function ipsetCreateArgs(s: IpSetSpec): string {
  return `${s.type} family ${s.family ?? 'inet'} hashsize 1024 maxelem ${s.maxelem}${s.timeout === undefined ? '' : ` timeout ${s.timeout}`}`
}

/** Pure. The `ipset restore` line creating `s` under `name` (its own, or a temporary to swap in). */
export function ipsetCreateLine(s: IpSetSpec, name = s.name): string {
  return `create ${name} ${ipsetCreateArgs(s)}`
}

/** Pure. `ipset restore` text creating every set from scratch (used in goldens and full applies). */
export function formatIpsets(sets: readonly IpSetSpec[]): string {
  const out: string[] = []
  for (const s of sets) {
    out.push(`# ${s.owner}`)
    out.push(ipsetCreateLine(s))
    for (const e of [...s.entries].sort()) out.push(`add ${s.name} ${e}`)
  }
  return out.join('\n') + (out.length > 0 ? '\n' : '')
}

/**
 * Pure. Connection-tracking entries that outlive the NAT rule that made them would keep a
 * removed UDP forward or static NAT working for as long as traffic flows. After an apply,
 * the entries of every public IP whose UDP forwards or static NAT changed are deleted (as
 * kube-proxy does for UDP services). Deleting an entry of a forward that still exists is
 * harmless: the next packet is NATed again by the rules. Established TCP through a removed
 * forward is left to finish, as on any stateful router.
 */

/** Pure. `conntrack` argv lists that clear stale entries, going from `before` to `after`. */
export function planConntrack(before: ReadonlyMap<string, readonly string[]>, after: ReadonlyMap<string, readonly string[]>): string[][] {
  const commands: string[][] = []
  for (const [ip, was] of [...before].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const now = after.get(ip) ?? []
    // A rendering of an item edit shares the lists it did not change; thousands of UDP forwards
    // on one IP are compared through a set, not key by key against the whole list.
    if (now === was) continue
    const kept = new Set(now)
    const gone = was.filter((k) => !kept.has(k))
    if (gone.length === 0) continue
    if (gone.some((k) => k.startsWith('static '))) {
      commands.push(['-D', '--orig-dst', ip], ['-D', '--reply-dst', ip])
    } else {
      commands.push(['-D', '-p', 'udp', '--orig-dst', ip])
    }
  }
  return commands
}

/**
 * Pure. Connection-tracking entries that outlive the NAT rule that made them would keep a
 * removed UDP forward, load-balancer backend or static NAT working for as long as traffic
 * flows. After an apply, the entries of exactly what went are deleted (as kube-proxy does for
 * UDP services):
 *   - a static NAT: every entry to or from its public IP;
 *   - a UDP forward or load-balancer backend: the UDP entries of its public IP answered by its
 *     VM (`--reply-src`), on its public port when it has one. The flows of every other forward
 *     and backend of the IP go on untouched.
 *   - public ports a local HAProxy served (a load balancer in mode http or tls) that it no longer
 *     serves (the mode became l4, or the rule went): every TCP entry to them. Those entries carry
 *     no NAT; a client SYN that reuses one's ports (CLOSE after HAProxy's resets, TIME_WAIT) takes
 *     the entry over without the nat table being asked, and the router's own stack would answer it
 *     with a reset instead of the new DNAT. A connection opened in the moment between the apply
 *     and this deletion loses its entry and retries its SYN (1 s); HAProxy's own connections are
 *     local and carry on without an entry.
 * Established TCP through a removed forward or backend is left to finish, as on any stateful
 * router; so is everything of a backend that is only down or drained.
 */

/** Ports a gone local key's entries are deleted one by one; a wider range clears the IP's TCP. */
const LOCAL_PORTS_ONE_BY_ONE = 64

/**
 * Pure. The `conntrack -D` arguments that clear the entries of one gone key of `ip`: keys are
 * `static <private ip>`, `udp <private ip> <public start>-<end> <detail>` or
 * `local tcp <public start>-<end>` (render/nat-state.ts).
 */
function deleteArgs(ip: string, key: string): string[][] {
  const [kind, target, ports] = key.split(' ')
  if (kind === 'static') return [['-D', '--orig-dst', ip], ['-D', '--reply-dst', ip]]
  if (kind === 'local') {
    const [from, to] = (ports ?? '').split('-').map(Number) as [number, number]
    if (to - from >= LOCAL_PORTS_ONE_BY_ONE) return [['-D', '-p', 'tcp', '--orig-dst', ip]]
    return Array.from({ length: to - from + 1 }, (_, i) => ['-D', '-p', 'tcp', '--orig-dst', ip, '--orig-port-dst', String(from + i)])
  }
  const [start, end] = (ports ?? '').split('-')
  const port = start !== undefined && start === end ? ['--orig-port-dst', start] : []
  return [['-D', '-p', 'udp', '--orig-dst', ip, '--reply-src', target ?? '', ...port]]
}

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
    const seen = new Set<string>()
    for (const key of gone) {
      for (const args of deleteArgs(ip, key)) {
        const text = args.join(' ')
        if (seen.has(text)) continue
        seen.add(text)
        commands.push(args)
      }
    }
  }
  return commands
}

import { memoize } from '../../../core/memo.ts'
import type { NFirewallRule, NPortForward } from '../../model/normalize.ts'
import { flat } from '../flat-string.ts'
import { ruleTag } from '../names.ts'
import { comment, ruleArgs } from '../rule-line.ts'
import type { IpSetSpec } from '../ipset.ts'
import { cidrListArgs, protocolArgs } from './match.ts'
import { dnatTarget } from './nat-target.ts'
import { portRuleLine } from './port-buckets.ts'

/**
 * The per-item pieces of rule text, memoized on the (immutable) normalized item (core/memo.ts).
 * An item edit with 10,000 forwards present renders one item's text; the rest is string
 * assembly. The memo holds only values derived from the object it sits on, so rendering stays
 * a pure function of its input.
 */

export interface ForwardParts {
  /**
   * Members of the open-ports set (`ip,proto:port`) when the forward is open to everyone and
   * spans at most OPEN_SET_MAX_PORTS ports; then it needs no mangle rule of its own.
   */
  openEntries: string[] | undefined
  /** mangle: opens the public port(s); only when openEntries is undefined. */
  ingressLine: string | undefined
  /** nat: the DNAT. */
  dnatLine: string
  sets: readonly IpSetSpec[]
}

export interface FirewallParts {
  /** The rule text: port-bucketed for tcp/udp with ports, plain otherwise. */
  line: string
  sets: readonly IpSetSpec[]
}

/** Most items need no set: they share this one empty list instead of holding one each. */
const NO_SETS: readonly IpSetSpec[] = Object.freeze([])

/** Forwards wider than this keep a mangle rule: a set member is one port. */
const OPEN_SET_MAX_PORTS = 64

/** Pure. A port forward's mangle and nat rule text, its open-ports members and its sets; once per item. */
export const forwardParts = memoize((r: NPortForward): ForwardParts => {
  const sets: IpSetSpec[] = []
  // Ids, addresses and set names are restricted by the schema to characters restore takes as
  // they are, so this hot path builds text directly instead of quoting argument by argument.
  const match = cidrListArgs(r.sourceCidrs, 'src', `pf:${r.id}`, sets)
  const tag = `-m comment --comment ${ruleTag('pf', r.id)}`
  const source = match.length === 0 ? tag : `${match.join(' ')} ${tag}`
  const { protocol, publicStart: start, publicEnd: end } = r
  let openEntries: string[] | undefined
  if (match.length === 0 && end - start < OPEN_SET_MAX_PORTS) {
    openEntries = []
    for (let port = start; port <= end; port++) openEntries.push(flat(`${r.publicIp},${protocol}:${port}`))
  }
  return {
    openEntries,
    ingressLine: openEntries === undefined ? flat(portRuleLine(protocol, start, end, `${source} -j ACCEPT`)) : undefined,
    dnatLine: flat(portRuleLine(protocol, start, end, `${source} -j DNAT --to-destination ${dnatTarget(r)}`)),
    sets: sets.length === 0 ? NO_SETS : sets,
  }
})

/** Pure. A firewall rule's rule text and its sets; once per item. */
export const firewallParts = memoize((r: NFirewallRule): FirewallParts => {
  const sets: IpSetSpec[] = []
  const tail = ruleArgs(...cidrListArgs(r.sourceCidrs, 'src', `fw:${r.id}`, sets), ...comment('fw', r.id), '-j', 'ACCEPT')
  const bucketed = (r.protocol === 'tcp' || r.protocol === 'udp') && r.ports !== undefined
  const match = ruleArgs(...protocolArgs(r))
  const line = bucketed ? portRuleLine(r.protocol, r.ports?.start ?? 0, r.ports?.end ?? 0, tail) : match === '' ? tail : `${match} ${tail}`
  return { line: flat(line), sets: sets.length === 0 ? NO_SETS : sets }
})

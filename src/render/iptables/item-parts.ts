import type { NFirewallRule, NPortForward } from '../../model/normalize.ts'
import { comment, ruleArgs } from '../rule-line.ts'
import { cidrListArgs, protocolArgs, type IpSetSpec } from './match.ts'
import { dnatTarget } from './nat-target.ts'
import { portRuleLine } from './port-buckets.ts'

/**
 * The per-item pieces of rule text, memoized on the (immutable) normalized item. An item edit
 * with 10,000 forwards present re-renders one item; the rest is string assembly. The cache is
 * keyed by object identity and holds only values derived from that object, so rendering stays
 * a pure function of its input.
 */

export interface ForwardParts {
  /** mangle: opens the public port(s). */
  ingressLine: string
  /** nat: the DNAT. */
  dnatLine: string
  sets: IpSetSpec[]
}

export interface FirewallParts {
  /** The rule text: port-bucketed for tcp/udp with ports, plain otherwise. */
  line: string
  sets: IpSetSpec[]
}

const forwardCache = new WeakMap<NPortForward, ForwardParts>()
const firewallCache = new WeakMap<NFirewallRule, FirewallParts>()

export function forwardParts(r: NPortForward): ForwardParts {
  let parts = forwardCache.get(r)
  if (parts === undefined) {
    const sets: IpSetSpec[] = []
    const source = ruleArgs(...cidrListArgs(r.sourceCidrs, 'src', `pf:${r.id}`, sets), ...comment(`svm:pf:${r.id}`))
    const { protocol, publicPorts: { start, end } } = r
    parts = {
      ingressLine: portRuleLine(protocol, start, end, `${source} -j ACCEPT`),
      dnatLine: portRuleLine(protocol, start, end, `${source} -j DNAT --to-destination ${dnatTarget(r)}`),
      sets,
    }
    forwardCache.set(r, parts)
  }
  return parts
}

export function firewallParts(r: NFirewallRule): FirewallParts {
  let parts = firewallCache.get(r)
  if (parts === undefined) {
    const sets: IpSetSpec[] = []
    const tail = ruleArgs(...cidrListArgs(r.sourceCidrs, 'src', `fw:${r.id}`, sets), ...comment(`svm:fw:${r.id}`), '-j', 'ACCEPT')
    const bucketed = (r.protocol === 'tcp' || r.protocol === 'udp') && r.ports !== undefined
    const match = ruleArgs(...protocolArgs(r))
    const line = bucketed ? portRuleLine(r.protocol, r.ports?.start ?? 0, r.ports?.end ?? 0, tail) : match === '' ? tail : `${match} ${tail}`
    parts = { line, sets }
    firewallCache.set(r, parts)
  }
  return parts
}

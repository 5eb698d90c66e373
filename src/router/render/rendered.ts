import type { Diagnostic } from '../../core/errors.ts'
import type { RenderedTable } from './iptables/table.ts'
import type { IpSetSpec } from './ipset.ts'
import type { DesiredNet } from './net.ts'
import type { RenderedSecGroups } from '../secgroup/render.ts'

/** Everything the router wants in the kernel, as data. */
export interface RenderedRouter {
  tables: RenderedTable[]
  ipsets: IpSetSpec[]
  net: DesiredNet
  /** NAT state per public IP, compared across applies to clear stale conntrack entries (plan/conntrack.ts). */
  nat: Map<string, string[]>
  warnings: Diagnostic[]
  /** Role secgroup: a host's security groups, in chains, sets and jumps of our own (reconcile/stages/secgroup.ts). */
  secgroup?: RenderedSecGroups
}

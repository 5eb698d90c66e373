import type { RenderContext } from '../context.ts'
import { guestNetOf } from '../context.ts'
import { CHAIN, ownedChain } from '../names.ts'
import { comment } from '../rule-line.ts'
import { TableBuilder, type RenderedTable } from './table.ts'

/**
 * raw: source-address validation (BCP 38) before anything else sees a packet, conntrack included.
 *
 *   PREROUTING → SVM-PREROUTING
 *      -i <guest dev> → SVM-ASP-<net>:
 *          -s <network cidr>                  RETURN
 *          -s <cidr of a static route via a host of this network> RETURN   (a guest that routes for others)
 *          -s 0.0.0.0 udp 68 → 67             RETURN   (DHCP before the client has an address)
 *          DROP, commented svm:antispoof:<net> (its packet counter is routerd_spoofed_packets_dropped_total)
 *
 * A guest that forges its source could otherwise send packets out of the public interface
 * un-NATed, or into another guest network as one of its hosts. rp_filter stays loose: policy
 * routing sends replies out of other interfaces than the main table's, and strict mode cannot
 * know that; this chain knows exactly which sources each guest link may carry.
 */
export function renderRaw(ctx: RenderContext): RenderedTable {
  const tb = new TableBuilder('raw')
  tb.add(CHAIN.canary, '-j', 'RETURN')
  if (ctx.guestNets.length === 0) return tb.table
  tb.jumpFrom('PREROUTING', CHAIN.rawPrerouting)
  tb.chain(CHAIN.rawPrerouting, 'source address validation (BCP 38)')
  for (const g of ctx.guestNets) {
    const chain = ownedChain('ASP', g.net.id)
    tb.add(CHAIN.rawPrerouting, '-i', g.dev, '-j', chain)
    tb.chain(chain, `sources allowed on ${g.net.id}`)
    tb.add(chain, '-s', g.net.cidr, '-j', 'RETURN')
    for (const r of ctx.cfg.staticRoutes) {
      if (guestNetOf(ctx, r.via)?.net.id === g.net.id) tb.add(chain, '-s', r.cidr, ...comment('route', r.id), '-j', 'RETURN')
    }
    tb.add(chain, '-s', '0.0.0.0/32', '-p', 'udp', '-m', 'udp', '--sport', '68', '--dport', '67', '-j', 'RETURN')
    tb.add(chain, ...comment('antispoof', g.net.id), '-j', 'DROP')
  }
  return tb.table
}

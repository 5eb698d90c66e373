import type { RenderContext } from '../context.ts'
import { CHAIN, MARK_MASK, ownedChain } from '../names.ts'
import { comment } from '../rule-line.ts'
import type { IpSetSpec } from './match.ts'
import { firewallParts, forwardParts } from './item-parts.ts'
import { addPortBucketed, type PortKeyedRule } from './port-buckets.ts'
import { TableBuilder, type RenderedTable } from './table.ts'

/**
 * mangle: connection marks for policy routing, and the ingress firewall of every public IP.
 * Ingress is filtered here, before DNAT, so rules speak of the public address and port the
 * client used (as CloudStack's FIREWALL_<ip> chains do).
 *
 *   PREROUTING → SVM-PREROUTING
 *      1. CONNMARK restore            every packet: replies carry their interface's mark
 *      2. RELATED,ESTABLISHED ACCEPT  the fast path: an established flow stops here
 *      3. -i <public dev> → CONNMARK 0x<table>        new connections remember their interface
 *      4. -s <static-NAT VM> → CONNMARK 0x<table>     VM-originated traffic leaves by its IP's interface
 *      5. CONNMARK restore            copy 3/4 onto this first packet
 *      6. -d <public ip> → SVM-FWI-<ip>: open ports (firewall rules, port forwards) ACCEPT, else DROP
 *   OUTPUT → SVM-OUTPUT: CONNMARK restore (the router's own replies)
 */

export function renderMangle(ctx: RenderContext, sets: IpSetSpec[]): RenderedTable {
  const tb = new TableBuilder('mangle')
  tb.jumpFrom('PREROUTING', CHAIN.manglePrerouting)
  tb.jumpFrom('OUTPUT', CHAIN.mangleOutput)
  tb.add(CHAIN.canary, '-j', 'RETURN')
  const pre = CHAIN.manglePrerouting
  tb.chain(pre, 'marks and ingress dispatch')
  tb.chain(CHAIN.mangleOutput)
  const routing = ctx.publicInterfaces.length > 0
  const restore = ['-j', 'CONNMARK', '--restore-mark', '--nfmask', MARK_MASK, '--ctmask', MARK_MASK]
  if (routing) tb.add(pre, ...restore)
  tb.add(pre, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT')
  for (const pub of ctx.publicInterfaces) {
    tb.add(pre, '-i', pub.dev, ...comment(`svm:iface:${pub.id}`), '-j', 'CONNMARK', '--set-xmark', `0x${pub.mark.toString(16)}/${MARK_MASK}`)
  }
  for (const s of ctx.cfg.staticNats) {
    const pub = ctx.publicInterfaceOfIp.get(s.publicIp)
    if (pub === undefined) continue
    tb.add(pre, '-s', `${s.privateIp}/32`, ...comment(`svm:snat:${s.id}`), '-j', 'CONNMARK', '--set-xmark', `0x${pub.mark.toString(16)}/${MARK_MASK}`)
  }
  if (routing) {
    tb.add(pre, ...restore)
    tb.add(CHAIN.mangleOutput, ...restore)
  }

  for (const ip of ctx.cfg.publicIps) {
    const chain = ownedChain('FWI', ip.ip)
    tb.add(pre, '-d', `${ip.ip}/32`, '-j', chain)
    tb.chain(chain, `ingress firewall ${ip.ip}`)
    const bucketed: PortKeyedRule[] = []
    for (const r of ctx.firewallByIp.get(ip.ip) ?? []) {
      const parts = firewallParts(r)
      for (const s of parts.sets) sets.push(s)
      if ((r.protocol === 'tcp' || r.protocol === 'udp') && r.ports !== undefined) {
        bucketed.push({ protocol: r.protocol, start: r.ports.start, end: r.ports.end, line: parts.line })
      } else tb.chain(chain).push(parts.line)
    }
    for (const r of ctx.forwardsByIp.get(ip.ip) ?? []) {
      const parts = forwardParts(r)
      for (const s of parts.sets) sets.push(s)
      bucketed.push({ protocol: r.protocol, start: r.publicPorts.start, end: r.publicPorts.end, line: parts.ingressLine })
    }
    addPortBucketed(tb, chain, 'FWB', ip.ip, bucketed)
    tb.add(chain, ...comment(`svm:drop:${ip.ip}`), '-j', 'DROP')
  }
  return tb.table
}

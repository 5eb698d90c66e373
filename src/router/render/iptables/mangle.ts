import type { RenderContext } from '../context.ts'
import { CHAIN, MARK_MASK, OPEN_PORTS_SET, ownedChain } from '../names.ts'
import { comment } from '../rule-line.ts'
import type { IpSetSpec } from '../ipset.ts'
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
 *      6. -d <public ip> → SVM-FWI-<ip>: ports opened by port forwards (the svm-pf-open set, or a
 *         rule for forwards limited to some sources or wider than 64 ports) and firewall rules
 *         ACCEPT, else DROP
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
    tb.add(pre, '-i', pub.dev, ...comment('iface', pub.id), '-j', 'CONNMARK', '--set-xmark', `0x${pub.mark.toString(16)}/${MARK_MASK}`)
  }
  for (const s of ctx.cfg.staticNats) {
    const pub = ctx.publicInterfaceOfIp.get(s.publicIp)
    if (pub === undefined) continue
    tb.add(pre, '-s', `${s.privateIp}/32`, ...comment('snat', s.id), '-j', 'CONNMARK', '--set-xmark', `0x${pub.mark.toString(16)}/${MARK_MASK}`)
  }
  if (routing) {
    tb.add(pre, ...restore)
    tb.add(CHAIN.mangleOutput, ...restore)
  }

  // Port forwards open to everyone are members of one hash:ip,port set: adding one among
  // 10,000 is an `ipset add`, not a rewrite of mangle rules.
  const open: string[] = []
  for (const ip of ctx.cfg.publicIps) {
    const chain = ownedChain('FWI', ip.ip)
    tb.add(pre, '-d', `${ip.ip}/32`, '-j', chain)
    tb.chain(chain, `ingress firewall ${ip.ip}`)
    const bucketed: PortKeyedRule[] = []
    let opensBySet = false
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
      if (parts.ingressLine === undefined) {
        opensBySet = true
        for (const e of parts.openEntries ?? []) open.push(e)
      } else bucketed.push({ protocol: r.protocol, start: r.publicStart, end: r.publicEnd, line: parts.ingressLine })
    }
    if (opensBySet) tb.add(chain, '-m', 'set', '--match-set', OPEN_PORTS_SET, 'dst,dst', ...comment('pf-open'), '-j', 'ACCEPT')
    addPortBucketed(tb, chain, 'FWB', ip.ip, bucketed)
    tb.add(chain, ...comment('drop', ip.ip), '-j', 'DROP')
  }
  if (open.length > 0) sets.push({ name: OPEN_PORTS_SET, type: 'hash:ip,port', maxelem: 1 << 20, entries: open, owner: 'open port forwards' })
  return tb.table
}

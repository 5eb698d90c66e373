import type { RenderContext } from '../context.ts'
import { CHAIN, MARK_MASK, OPEN_PORTS_SET, ownedChain } from '../names.ts'
import { comment, ruleArgs } from '../rule-line.ts'
import type { IpSetSpec } from '../ipset.ts'
import { firewallParts, forwardParts } from './item-parts.ts'
import { loadBalancerParts } from './load-balancer.ts'
import { indexPortRules, writePortIndex, type PortIndex, type PortKeyedRule } from './port-buckets.ts'
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
 *         rule for forwards limited to some sources or wider than 64 ports), load balancers (a
 *         rule each) and firewall rules ACCEPT, else DROP
 *   OUTPUT → SVM-OUTPUT: CONNMARK restore (the router's own replies)
 */

/** One public IP's ingress firewall: its chain's content, kept so an edit of its forwards can be rendered alone (render/edit.ts). */
export interface IngressBlock {
  /** Rules of firewall rules without ports (icmp, all, a protocol alone), in order. */
  plain: readonly string[]
  /** Forwards of this IP opened by OPEN_PORTS_SET, and the members they put in it. */
  openForwards: number
  openEntries: number
  /** Firewall rules with ports, and forwards with a rule of their own (limited sources, or wide). */
  ports: PortIndex
}

const OPEN_SET_RULE = ruleArgs('-m', 'set', '--match-set', OPEN_PORTS_SET, 'dst,dst', ...comment('pf-open'), '-j', 'ACCEPT')

/** Pure apart from writing into `tb`. Declares the IP's ingress chain and writes its block. */
export function writeIngressBlock(tb: TableBuilder, ip: string, block: IngressBlock): void {
  const chain = ownedChain('FWI', ip)
  const rules = tb.chain(chain, `ingress firewall ${ip}`)
  for (const line of block.plain) rules.push(line)
  if (block.openForwards > 0) rules.push(OPEN_SET_RULE)
  writePortIndex(tb, chain, block.ports)
  tb.add(chain, ...comment('drop', ip), '-j', 'DROP')
}

/** Pure. The set of ports port forwards open to everyone, holding `entries`. */
export function openPortsSet(entries: string[]): IpSetSpec {
  return { name: OPEN_PORTS_SET, type: 'hash:ip,port', maxelem: 1 << 20, entries, owner: 'open port forwards' }
}

/** Pure (`blocks`, when given, receives each public IP's IngressBlock, in the order of the IPs). */
export function renderMangle(ctx: RenderContext, sets: IpSetSpec[], blocks?: Map<string, IngressBlock>): RenderedTable {
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
    tb.add(pre, '-d', `${ip.ip}/32`, '-j', ownedChain('FWI', ip.ip))
    const plain: string[] = []
    const bucketed: PortKeyedRule[] = []
    let openForwards = 0
    const openBefore = open.length
    for (const r of ctx.firewallByIp.get(ip.ip) ?? []) {
      const parts = firewallParts(r)
      for (const s of parts.sets) sets.push(s)
      if ((r.protocol === 'tcp' || r.protocol === 'udp') && r.ports !== undefined) {
        bucketed.push({ protocol: r.protocol, start: r.ports.start, end: r.ports.end, line: parts.line })
      } else plain.push(parts.line)
    }
    for (const r of ctx.forwardsByIp.get(ip.ip) ?? []) {
      const parts = forwardParts(r)
      for (const s of parts.sets) sets.push(s)
      if (parts.ingressLine === undefined) {
        openForwards++
        for (const e of parts.openEntries ?? []) open.push(e)
      } else bucketed.push({ protocol: r.protocol, start: r.publicStart, end: r.publicEnd, line: parts.ingressLine })
    }
    for (const r of ctx.loadBalancersByIp.get(ip.ip) ?? []) {
      const parts = loadBalancerParts(r)
      for (const s of parts.sets) sets.push(s)
      bucketed.push({ protocol: r.protocol, start: r.publicStart, end: r.publicEnd, line: parts.ingressLine })
    }
    const block: IngressBlock = { plain, openForwards, openEntries: open.length - openBefore, ports: indexPortRules('FWB', ip.ip, bucketed) }
    writeIngressBlock(tb, ip.ip, block)
    blocks?.set(ip.ip, block)
  }
  if (open.length > 0) sets.push(openPortsSet(open))
  return tb.table
}

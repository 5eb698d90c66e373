import type { Diagnostic } from '../../../core/errors.ts'
import { memoize } from '../../../core/memo.ts'
import type { RouterConfig } from '../../model/config.ts'
import type { NLbBackend, NLoadBalancer } from '../../model/normalize.ts'
import { guestNetOf, type RenderContext } from '../context.ts'
import { flat } from '../flat-string.ts'
import type { IpSetSpec } from '../ipset.ts'
import { CHAIN, ownedChain, ownedSet } from '../names.ts'
import { comment, ruleArgs } from '../rule-line.ts'
import { cidrListArgs } from './match.ts'
import { portRuleLine } from './port-buckets.ts'
import type { TableBuilder } from './table.ts'

/**
 * Load balancers in the kernel (mode l4): no proxy hop, the client's own address reaches the
 * backend. A load balancer's public ports sit in its IP's port buckets beside the port forwards,
 * in mangle (opening them, like a forward) and in nat, where they jump to its own chain:
 *
 *   SVM-DNAT-<ip> bucket: -p tcp --dport 80 [-m set sources] → SVM-LB-<id>
 *   SVM-LB-<id>
 *      1. affinity: -m set --match-set svm-lba-<backend> src → SVM-LBB-<backend>   (each backend not down)
 *      2. spread over the backends taking new connections (weight > 0, not down):
 *           equal weights: -m statistic --mode nth --every n-i --packet 0 → SVM-LBB-<i>   (exact rotation)
 *           other weights: -m statistic --mode random --probability w_i/(w_i+…+w_n) → SVM-LBB-<i>
 *         the last backend unconditionally. None: no rule, the packet is not DNATed, reaches the
 *         router itself on a port nothing listens on, and is refused (TCP reset, ICMP unreachable).
 *   SVM-LBB-<backend>: [-j SET --add-set svm-lba-<backend> src --exist --timeout T] then DNAT.
 *
 * Only the first packet of a connection walks nat: established connections keep their backend
 * whatever the chains become (a backend added, drained, down, or a whole config pushed again).
 * Client affinity lives in one hash:ip set per backend with a timeout, filled by the kernel
 * (ipset.ts kernelFilled): routerd creates the sets and never touches their members, so applies
 * and drift repairs keep every client where it was. No marks: the mark bits belong to policy routing.
 * A drained backend (weight 0) gets no new clients but keeps its affine ones, as HAProxy's drain does.
 *
 * The modes http and tls are HAProxy's, listening on the public IP itself: here they only open
 * their ports. leastconn is rendered from the weights routerd steers by the backends' connection
 * counts (run-time facts), else as round robin.
 */

/** The service that reports the load balancers' run-time facts (model/runtime.ts). */
export const LB_RUNTIME = 'load-balancer'

/** What the load-balancer service reports: backends failing their checks, and leastconn's steered weights. */
export interface LbRuntime {
  /** Keys (`<lb> <ip>:<port>`) of backends that failed their health checks. */
  down?: readonly string[]
  /** leastconn: key → the weight to spread new connections by now. */
  weights?: Readonly<Record<string, number>>
}

const NO_DOWN: ReadonlySet<string> = new Set()
const AFFINITY_SET_SIZE = 262144

/** Pure. The run-time facts the load-balancer service reported, as lookups. */
export function lbRuntime(ctx: RenderContext): { down: ReadonlySet<string>; weights: ReadonlyMap<string, number> } {
  const r = ctx.runtime[LB_RUNTIME] as LbRuntime | undefined
  return { down: r?.down === undefined ? NO_DOWN : new Set(r.down), weights: new Map(Object.entries(r?.weights ?? {})) }
}

export function lbChain(id: string): string {
  return ownedChain('LB', id)
}

function backendChain(b: NLbBackend): string {
  return ownedChain('LBB', b.key)
}

function affinitySet(b: NLbBackend): string {
  return ownedSet('lba', b.key)
}

export interface LoadBalancerParts {
  /** mangle: opens the public port(s). */
  ingressLine: string
  /** nat: jumps to the load balancer's chain (mode l4 only). */
  dispatchLine: string | undefined
  sets: readonly IpSetSpec[]
}

/** Pure. A load balancer's port-keyed rule text and its source sets; once per item. */
export const loadBalancerParts = memoize((r: NLoadBalancer): LoadBalancerParts => {
  const sets: IpSetSpec[] = []
  const match = cidrListArgs(r.sourceCidrs, 'src', `lb:${r.id}`, sets)
  const source = ruleArgs(...match, ...comment('lb', r.id))
  return {
    ingressLine: flat(portRuleLine(r.protocol, r.publicStart, r.publicEnd, `${source} -j ACCEPT`)),
    dispatchLine: r.mode === 'l4' ? flat(portRuleLine(r.protocol, r.publicStart, r.publicEnd, `${source} -j ${lbChain(r.id)}`)) : undefined,
    sets,
  }
})

/** Pure. The DNAT target of one backend: the rule's public ports mapped onto the backend's from its first port. */
function backendTarget(r: NLoadBalancer, b: NLbBackend): string {
  const span = r.publicEnd - r.publicStart
  if (b.port === r.publicStart && span === r.privateEnd - r.privateStart) return b.ip
  if (span === 0) return `${b.ip}:${b.port}`
  return `${b.ip}:${b.port}-${b.port + span}/${r.publicStart}`
}

/** Pure. The statistic match iptables-save prints for a probability (it keeps p as a 31-bit fraction). */
export function probabilityArg(p: number): string {
  return (Math.round(p * 0x80000000) / 0x80000000).toFixed(11)
}

/** Pure. The match sending the i-th of `weights` its share of what the ones before it left. */
function spreadMatch(weights: readonly number[], i: number): string[] {
  if (i === weights.length - 1) return []
  if (weights.every((w) => w === weights[0])) return ['-m', 'statistic', '--mode', 'nth', '--every', String(weights.length - i), '--packet', '0']
  const rest = weights.slice(i).reduce((a, b) => a + b, 0)
  return ['-m', 'statistic', '--mode', 'random', '--probability', probabilityArg((weights[i] as number) / rest)]
}

/**
 * Pure apart from writing into `tb` and `sets`. A mode-l4 load balancer's chain and its backends'
 * chains, spreading over the backends that take new connections now.
 */
export function writeLoadBalancer(tb: TableBuilder, r: NLoadBalancer, runtime: ReturnType<typeof lbRuntime>, sets: IpSetSpec[]): void {
  const chain = lbChain(r.id)
  tb.chain(chain, `load balancer ${r.id}`)
  const alive = r.backends.filter((b) => !runtime.down.has(b.key))
  const weightOf = (b: NLbBackend) => (r.algorithm === 'leastconn' ? runtime.weights.get(b.key) ?? b.weight : b.weight)
  const taking = alive.filter((b) => weightOf(b) > 0)
  const affine = r.affinitySeconds === undefined ? [] : alive
  for (const b of affine) tb.add(chain, '-m', 'set', '--match-set', affinitySet(b), 'src', ...comment('lb-affinity', r.id), '-j', backendChain(b))
  const weights = taking.map(weightOf)
  taking.forEach((b, i) => tb.add(chain, ...spreadMatch(weights, i), ...comment('lb', r.id), '-j', backendChain(b)))
  // A backend nothing jumps to now (down, or drained without affinity) has no chain and no set.
  const used = new Set([...affine, ...taking])
  for (const b of r.backends) {
    if (!used.has(b)) continue
    const own = backendChain(b)
    tb.chain(own, `load balancer ${r.id} backend ${b.ip}:${b.port}`)
    if (r.affinitySeconds !== undefined) {
      const name = affinitySet(b)
      sets.push({ name, type: 'hash:ip', maxelem: AFFINITY_SET_SIZE, entries: [], owner: `load balancer ${r.id} clients of ${b.ip}:${b.port}`, timeout: r.affinitySeconds, kernelFilled: true })
      tb.add(own, '-j', 'SET', '--add-set', name, 'src', '--exist', '--timeout', String(r.affinitySeconds))
    }
    tb.add(own, '-p', r.protocol, ...comment('lb', r.id), '-j', 'DNAT', '--to-destination', backendTarget(r, b))
  }
}

/**
 * Pure apart from writing into `tb`. For load balancers with sourceNat: connections they sent to
 * a backend leave towards it from the router's address on that network, so the backend answers
 * the router even when its default route points elsewhere (it then sees the router, not the client).
 */
export function writeLoadBalancerSourceNat(tb: TableBuilder, ctx: RenderContext): void {
  for (const r of ctx.cfg.loadBalancers) {
    if (r.mode !== 'l4' || !r.sourceNat) continue
    const ports = r.publicStart === r.publicEnd ? String(r.publicStart) : `${r.publicStart}:${r.publicEnd}`
    const nets = [...new Set(r.backends.map((b) => guestNetOf(ctx, b.ip)).filter((g) => g !== undefined))]
    for (const g of nets) {
      tb.add(CHAIN.natPostrouting, '-o', g.dev, '-p', r.protocol, '-m', 'conntrack', '--ctstate', 'DNAT', '--ctorigdst', r.publicIp, '--ctorigdstport', ports,
        ...comment('lb-snat', r.id), '-j', 'SNAT', '--to-source', g.net.routerIp)
    }
  }
}

/**
 * Pure. Backends of mode-l4 load balancers without sourceNat that are not their VM's default NIC
 * (dhcpHosts default: false): the VM answers the client by its default route, not through the
 * router, and the connection fails. CloudStack users meet this with VMs on several networks.
 */
export function loadBalancerWarnings(config: RouterConfig): Diagnostic[] {
  const secondary = new Map(config.dhcpHosts.filter((h) => h.default === false).map((h) => [h.ip, h.id]))
  const out: Diagnostic[] = []
  if (secondary.size === 0) return out
  config.loadBalancers.forEach((r, i) => {
    if ((r.mode ?? 'l4') !== 'l4' || r.sourceNat === true) return
    r.backends.forEach((b, k) => {
      const host = secondary.get(b.ip)
      if (host === undefined) return
      out.push({
        severity: 'warning', path: `/loadBalancers/${i}/backends/${k}/ip`, code: 'WARN_LB_BACKEND_NOT_DEFAULT_NIC',
        message: `${b.ip} is not the default NIC of its VM (dhcpHosts ${host}): it answers clients by another route and their connections fail; set sourceNat: true on the load balancer`,
      })
    })
  })
  return out
}

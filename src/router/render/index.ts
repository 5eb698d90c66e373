import type { Diagnostic } from '../../core/errors.ts'
import type { RouterConfig } from '../model/config.ts'
import type { HostFacts } from '../model/facts.ts'
import type { RoleName } from '../model/roles.ts'
import { NO_RUNTIME_FACTS, type RuntimeFacts } from '../model/runtime.ts'
import { normalizeConfig } from '../model/normalize.ts'
import { natKeys } from './nat-state.ts'
import { buildContext, type RenderContext } from './context.ts'
import { rememberRendering, renderEdit } from './edit.ts'
import { DHCPSRVR_FILTER, HOSTNET_FILTER, renderFilter, ROUTER_FILTER } from './iptables/filter.ts'
import { loadBalancerWarnings } from './iptables/load-balancer.ts'
import { renderMangle, type IngressBlock } from './iptables/mangle.ts'
import { renderMetadataNat, renderNat, type DnatBlock } from './iptables/nat.ts'
import { renderRaw } from './iptables/raw.ts'
import { formatTable, type RenderedTable } from './iptables/table.ts'
import { formatIpsets, type IpSetSpec } from './ipset.ts'
import { renderNet } from './net.ts'
import type { RenderedRouter } from './rendered.ts'
import { renderSecGroups } from '../secgroup/render.ts'

export type { RenderedRouter }

/** Where the sections put the per-IP blocks of their forwards, for rendering edits (render/edit.ts). */
interface Blocks { dnat: Map<string, DnatBlock>; ingress: Map<string, IngressBlock> }

type Section = (ctx: RenderContext, sets: IpSetSpec[], blocks: Blocks) => RenderedTable

/** The iptables tables each role renders, and so owns (a table not listed is never touched). */
const ROLE_SECTIONS: Readonly<Record<RoleName, readonly Section[]>> = {
  router: [renderRaw, (ctx, sets, b) => renderMangle(ctx, sets, b.ingress), (ctx, sets, b) => renderNat(ctx, sets, b.dnat),
    (ctx, sets) => renderFilter(ctx, sets, ROUTER_FILTER)],
  dhcpsrvr: [renderMetadataNat, (ctx, sets) => renderFilter(ctx, sets, DHCPSRVR_FILTER)],
  hostnet: [(ctx, sets) => renderFilter(ctx, sets, HOSTNET_FILTER)],
  // A host is not ours: no table is, only the chains secgroup/render.ts names.
  secgroup: [],
}

/**
 * Pure. Renders a checked config for this host, role and run-time facts. Same input, same bytes.
 * `previous`: a rendering of an earlier config on the same facts and run-time facts (the same
 * objects) and role; when the config is that one with one port forward added, replaced or
 * removed, only what the forward touches is rendered again (render/edit.ts), with the same result.
 * @example renderRouter(config, { links: [{ name: 'eth0', mac: '02:00:00:00:00:01' }], controlPorts: [8443] })
 */
export function renderRouter(config: RouterConfig, facts: HostFacts, role: RoleName = 'router', runtime: RuntimeFacts = NO_RUNTIME_FACTS,
  previous?: RenderedRouter): RenderedRouter {
  if (previous !== undefined) {
    const edited = renderEdit(previous, config, facts, role, runtime)
    if (edited !== undefined) return edited
  }
  const normalized = normalizeConfig(config)
  const ctx = buildContext(normalized, facts, runtime)
  const sets: IpSetSpec[] = []
  const blocks: Blocks = { dnat: new Map(), ingress: new Map() }
  const tables = ROLE_SECTIONS[role].map((section) => section(ctx, sets, blocks))
  const unique = new Map(sets.map((s) => [s.name, s]))
  const ipsets = [...unique.values()].sort((a, b) => (a.name < b.name ? -1 : 1))
  const warnings: Diagnostic[] = []
  config.interfaces.forEach((iface, i) => {
    if (!ctx.devOf.has(iface.id)) {
      warnings.push({ severity: 'warning', path: `/interfaces/${i}`, code: 'WARN_INTERFACE_ABSENT', message: `interface "${iface.id}" is not on this host; its rules are left out` })
    }
  })
  if (role === 'router') warnings.push(...loadBalancerWarnings(config))
  const rendered: RenderedRouter = { tables, ipsets, net: renderNet(ctx), nat: natKeys(normalized), warnings }
  if (role === 'secgroup') rendered.secgroup = renderSecGroups({ ports: config.ports, securityGroups: config.securityGroups, securityGroupRules: config.securityGroupRules })
  rememberRendering(rendered, { config, facts, role, runtime, ...blocks })
  return rendered
}

/** Pure. The text files a golden test compares byte for byte. */
export function renderFiles(r: RenderedRouter): Record<string, string> {
  return {
    'iptables.rules': r.tables.map(formatTable).join(''),
    'ipset.restore': formatIpsets(r.ipsets),
    'net.json': JSON.stringify(r.net, null, 2) + '\n',
    'warnings.txt': r.warnings.map((w) => `${w.severity} ${w.path} ${w.code}: ${w.message}`).join('\n') + (r.warnings.length ? '\n' : ''),
  }
}

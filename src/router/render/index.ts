import type { Diagnostic } from '../../core/errors.ts'
import type { RouterConfig } from '../model/config.ts'
import type { HostFacts } from '../model/facts.ts'
import type { RoleName } from '../model/roles.ts'
import { NO_RUNTIME_FACTS, type RuntimeFacts } from '../model/runtime.ts'
import { normalizeConfig } from '../model/normalize.ts'
import { natKeys } from './nat-state.ts'
import { buildContext, type RenderContext } from './context.ts'
import { renderFilter } from './iptables/filter.ts'
import { renderMangle } from './iptables/mangle.ts'
import { renderNat } from './iptables/nat.ts'
import { renderRaw } from './iptables/raw.ts'
import { formatTable, type RenderedTable } from './iptables/table.ts'
import { formatIpsets, type IpSetSpec } from './ipset.ts'
import { renderNet, type DesiredNet } from './net.ts'

/** Everything the router wants in the kernel, as data. */
export interface RenderedRouter {
  tables: RenderedTable[]
  ipsets: IpSetSpec[]
  net: DesiredNet
  /** NAT state per public IP, compared across applies to clear stale conntrack entries (plan/conntrack.ts). */
  nat: Map<string, string[]>
  warnings: Diagnostic[]
}

type Section = (ctx: RenderContext, sets: IpSetSpec[]) => RenderedTable

/** The iptables tables each role renders, and so owns (a table not listed is never touched). */
const ROLE_SECTIONS: Readonly<Record<RoleName, readonly Section[]>> = {
  router: [renderRaw, renderMangle, renderNat, (ctx, sets) => renderFilter(ctx, sets, { forward: true })],
  dhcpsrvr: [(ctx, sets) => renderFilter(ctx, sets, { forward: false })],
}

/**
 * Pure. Renders a checked config for this host, role and run-time facts. Same input, same bytes.
 * @example renderRouter(config, { links: [{ name: 'eth0', mac: '02:00:00:00:00:01' }], controlPorts: [8443] })
 */
export function renderRouter(config: RouterConfig, facts: HostFacts, role: RoleName = 'router', runtime: RuntimeFacts = NO_RUNTIME_FACTS): RenderedRouter {
  const normalized = normalizeConfig(config)
  const ctx = buildContext(normalized, facts, runtime)
  const sets: IpSetSpec[] = []
  const tables = ROLE_SECTIONS[role].map((section) => section(ctx, sets))
  const unique = new Map(sets.map((s) => [s.name, s]))
  const ipsets = [...unique.values()].sort((a, b) => (a.name < b.name ? -1 : 1))
  const warnings: Diagnostic[] = []
  config.interfaces.forEach((iface, i) => {
    if (!ctx.devOf.has(iface.id)) {
      warnings.push({ severity: 'warning', path: `/interfaces/${i}`, code: 'WARN_INTERFACE_ABSENT', message: `interface "${iface.id}" is not on this host; its rules are left out` })
    }
  })
  return { tables, ipsets, net: renderNet(ctx), nat: natKeys(normalized), warnings }
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

import type { Diagnostic } from '../../core/errors.ts'
import type { RouterConfig } from './config.ts'
import type { HostFacts } from './facts.ts'
import { defaultRoute } from './check/default-route.ts'
import { collector } from './check/diagnostics.ts'
import { dhcpHosts } from './check/dhcp-hosts.ts'
import type { DomainCheck } from './check/domain.ts'
import { egressRules } from './check/egress-rules.ts'
import { firewallRules } from './check/firewall-rules.ts'
import { guestNetworks } from './check/guest-networks.ts'
import { ids } from './check/ids.ts'
import { ConfigIndex } from './check/index.ts'
import { interfaces } from './check/interfaces.ts'
import { internalSites } from './check/internal-sites.ts'
import { securityGroups } from './check/security-groups.ts'
import { networkDhcp } from './check/network-dhcp.ts'
import { ownAddresses } from './check/own-addresses.ts'
import { portForwardOverlap } from './check/port-forward-overlap.ts'
import { portForwards } from './check/port-forwards.ts'
import { publicIps } from './check/public-ips.ts'
import { selectAffected, type CheckScope } from './check/scope.ts'
import { Selection } from './check/selection.ts'
import { staticNats } from './check/static-nats.ts'
import { staticRoutes } from './check/static-routes.ts'
import { vmData } from './check/vm-data.ts'
import { loadBalancers } from './check/load-balancers.ts'

export type { CheckScope } from './check/scope.ts'

/**
 * Semantic checks on a config that already passed schema validation: one check per domain
 * (check/*.ts), all reading one index of the document. The order below is the order of the
 * diagnostics, which API answers and goldens show.
 */
const DOMAINS: readonly DomainCheck[] = [
  ids, interfaces, publicIps, guestNetworks, ownAddresses, staticNats, portForwards, portForwardOverlap,
  firewallRules, egressRules, staticRoutes, defaultRoute, networkDhcp, dhcpHosts, vmData, loadBalancers, internalSites, securityGroups,
]

/**
 * Pure. Every semantic problem in `config`, each with its JSON pointer; host facts, when given,
 * also check interface matches. With a scope, only the edited item and the items whose problems
 * the edit can change are checked (see CheckScope).
 */
export function checkConfig(config: RouterConfig, facts?: HostFacts, scope?: CheckScope): Diagnostic[] {
  return checkIndexed(new ConfigIndex(config, facts), scope)
}

/** Like checkConfig, on an index the caller keeps (its `work` then tells what the check cost). */
export function checkIndexed(ix: ConfigIndex, scope?: CheckScope): Diagnostic[] {
  const { diagnostics, push } = collector()
  const only = scope === undefined ? Selection.everything() : selectAffected(ix, scope, DOMAINS)
  for (const domain of DOMAINS) domain.check(ix, push, only)
  return diagnostics
}

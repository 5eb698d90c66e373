import type { Diagnostic } from '../../core/errors.ts'
import { COLLECTION_NAMES, type CollectionName, type RouterConfig } from './config.ts'

/**
 * What a routerd instance is for, from its daemon config (the image takes it from the boot
 * line's `type=`). The role selects the collections a config may fill, the interface roles it
 * may name, the renderer's sections and so the tables routerd owns (render/index.ts), the
 * sysctls it sets and the services it runs (router/roles.ts). Pure.
 * - router: a guest network's virtual router (NAT, firewall, routing, DHCP, DNS, metadata).
 * - dhcpsrvr: DHCP, DNS and metadata for a shared network whose gateway is someone else's (CloudStack's
 *   basic zones): no public side, nothing forwarded, only what reaches the appliance filtered.
 * - hostnet: only the appliance's own links, addresses, routes and firewall (the secondary storage
 *   VM's, whose service is another daemon): nothing forwarded, no guest.
 * - secgroup: the security groups of a hypervisor host's VM ports (not our machine: only our own
 *   chains, sets and jumps are touched; no interface, address or route is ours).
 */
export const ROLE_NAMES = ['router', 'dhcpsrvr', 'hostnet', 'secgroup'] as const
export type RoleName = (typeof ROLE_NAMES)[number]

const GUEST_SIDE: readonly CollectionName[] = ['interfaces', 'publicIps', 'guestNetworks', 'staticNats', 'portForwards', 'firewallRules',
  'egressRules', 'staticRoutes', 'dhcpHosts', 'vmData', 'loadBalancers']

export const ROLE_COLLECTIONS: Readonly<Record<RoleName, readonly CollectionName[]>> = {
  router: GUEST_SIDE,
  dhcpsrvr: ['interfaces', 'guestNetworks', 'dhcpHosts', 'vmData'],
  // firewallRules open the appliance's own ports on its public IPs (nothing is forwarded).
  hostnet: ['interfaces', 'publicIps', 'firewallRules', 'staticRoutes', 'internalSites'],
  secgroup: ['ports', 'securityGroups', 'securityGroupRules'],
}

type InterfaceRoleName = RouterConfig['interfaces'][number]['role']

export const ROLE_INTERFACES: Readonly<Record<RoleName, readonly InterfaceRoleName[]>> = {
  router: ['control', 'public', 'guest'],
  dhcpsrvr: ['control', 'guest'],
  hostnet: ['control', 'public', 'management', 'storage'],
  secgroup: [],
}

// Every collection belongs to some role; a new one not placed above would be served by none.
for (const c of COLLECTION_NAMES) {
  if (!ROLE_NAMES.some((r) => ROLE_COLLECTIONS[r].includes(c))) throw new Error(`collection ${c} is in no role`)
}

export function roleAllows(role: RoleName, collection: CollectionName): boolean {
  return ROLE_COLLECTIONS[role].includes(collection)
}

/**
 * Pure. A diagnostic for every collection the role does not have that the document fills, and
 * for every interface whose role this role does not have.
 */
export function roleDiagnostics(config: RouterConfig, role: RoleName): Diagnostic[] {
  const collections: Diagnostic[] = COLLECTION_NAMES.filter((c) => !roleAllows(role, c) && config[c].length > 0).map((c) => ({
    severity: 'error', path: `/${c}`, code: 'ERR_NOT_IN_ROLE',
    message: `a ${role} has no ${c} (allowed: ${ROLE_COLLECTIONS[role].join(', ')})`,
  }))
  const interfaces: Diagnostic[] = config.interfaces.flatMap((iface, i) => (ROLE_INTERFACES[role].includes(iface.role) ? [] : [{
    severity: 'error' as const, path: `/interfaces/${i}/role`, code: 'ERR_NOT_IN_ROLE',
    message: `a ${role} has no ${iface.role} interface (allowed: ${ROLE_INTERFACES[role].join(', ')})`,
  }]))
  return [...collections, ...interfaces]
}

import type { Diagnostic } from '../../core/errors.ts'
import { COLLECTION_NAMES, type CollectionName, type RouterConfig } from './config.ts'

/**
 * What a routerd instance is for, from its daemon config (the image takes it from the boot
 * line's `type=`). The role selects the collections a config may fill, the renderer's sections
 * and so the tables routerd owns (render/index.ts), the sysctls it sets and the services it runs
 * (router/roles.ts). Pure.
 * - router: a guest network's virtual router (NAT, firewall, routing, DHCP, DNS, metadata).
 * - dhcpsrvr: DHCP, DNS and metadata for a shared network whose gateway is someone else's (CloudStack's
 *   basic zones): no public side, nothing forwarded, only what reaches the appliance filtered.
 */
export const ROLE_NAMES = ['router', 'dhcpsrvr'] as const
export type RoleName = (typeof ROLE_NAMES)[number]

export const ROLE_COLLECTIONS: Readonly<Record<RoleName, readonly CollectionName[]>> = {
  router: COLLECTION_NAMES,
  dhcpsrvr: ['interfaces', 'guestNetworks', 'dhcpHosts', 'vmData'],
}

export function roleAllows(role: RoleName, collection: CollectionName): boolean {
  return ROLE_COLLECTIONS[role].includes(collection)
}

/** Pure. A diagnostic for every collection the role does not have that the document fills. */
export function roleDiagnostics(config: RouterConfig, role: RoleName): Diagnostic[] {
  return COLLECTION_NAMES.filter((c) => !roleAllows(role, c) && config[c].length > 0).map((c) => ({
    severity: 'error', path: `/${c}`, code: 'ERR_NOT_IN_ROLE',
    message: `a ${role} has no ${c} (allowed: ${ROLE_COLLECTIONS[role].join(', ')})`,
  }))
}

import type { RoleName } from './model/roles.ts'
import { dhcpService } from './services/dhcp/service.ts'
import { dnsService } from './services/dns/service.ts'
import { loadBalancerService } from './services/load-balancer/service.ts'
import { metadataService } from './services/metadata/service.ts'
import type { ServiceEntry } from './services/service.ts'

/**
 * What each role does on the host besides rendering (model/roles.ts: its collections;
 * render/index.ts: its tables): the kernel settings it sets and the services it runs.
 */
export interface RoleRuntime {
  /** Set once at start (sysctl -w). */
  sysctls: Readonly<Record<string, string>>
  services: readonly ServiceEntry[]
}

export const ROLES: Readonly<Record<RoleName, RoleRuntime>> = {
  // rp_filter is loose (2): with policy routing a reply may legitimately leave by another
  // interface than the main table's route, and strict mode would drop the traffic that comes back.
  // promote_secondaries: removing the public IP that is its subnet's primary address must not
  // take the subnet's other public IPs with it (the kernel's default does), nor the link's routes.
  router: {
    sysctls: {
      'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '2', 'net.ipv4.conf.default.rp_filter': '2',
      'net.ipv4.conf.all.promote_secondaries': '1', 'net.ipv4.conf.default.promote_secondaries': '1',
    },
    services: [dhcpService, dnsService, metadataService, loadBalancerService],
  },
  // Not a router: the shared network's own gateway forwards, this appliance never does.
  dhcpsrvr: {
    sysctls: { 'net.ipv4.ip_forward': '0', 'net.ipv4.conf.all.promote_secondaries': '1', 'net.ipv4.conf.default.promote_secondaries': '1' },
    services: [dhcpService, dnsService, metadataService],
  },
  // The appliance's own links only: it forwards nothing, and its service is another daemon's.
  hostnet: {
    sysctls: { 'net.ipv4.ip_forward': '0', 'net.ipv4.conf.all.promote_secondaries': '1', 'net.ipv4.conf.default.promote_secondaries': '1' },
    services: [],
  },
  // A host is not ours: only what the filtering of bridged traffic needs (forwarding, rp_filter
  // and addresses are the host's).
  secgroup: {
    sysctls: { 'net.bridge.bridge-nf-call-iptables': '1', 'net.bridge.bridge-nf-call-ip6tables': '1', 'net.bridge.bridge-nf-call-arptables': '1' },
    services: [],
  },
}

import { LAB_ADDR, LAB_MACS, LAB_ROLES, labRouterConfig } from './lab.ts'

/**
 * What `make demo` pushes to routerd and where it keeps its files. Pure data.
 */

export const DEMO_DIR = '/tmp/systemvm-demo'
export const DEMO_PREFIX = 'svmdemo'
export const DEMO_API_PORT = 8443

export const DEMO_IPS = {
  sourceNat: '203.0.113.10',
  staticNat: '203.0.113.11',
  portForward: '203.0.113.12',
} as const

/** The port opened and closed again on the static-NAT IP by a firewall rule in step (d). */
export const DEMO_FIREWALL_PORT = 8000

/** Matches exactly the namespaces a demo lab creates (Lab ids are the prefix plus 6 hex digits). */
export const DEMO_NAMESPACE = new RegExp(`^${DEMO_PREFIX}[0-9a-f]{6}-(${LAB_ROLES.join('|')})$`)

/** The second guest network, where vm3 gets its address by DHCP. */
export const DEMO_NET2 = { cidr: '10.2.2.0/24', router: '10.2.2.1', vm3: '10.2.2.10', domain: 'two.internal' } as const

/**
 * Pure. The lab config plus a static NAT for vm2 (tcp/80 opened), a port forward to vm1, a
 * second guest network whose VM (vm3) gets its address by DHCP, and names for all three VMs.
 */
export function demoRouterConfig(): Record<string, unknown> {
  const lab = labRouterConfig() as { interfaces: unknown[]; guestNetworks: unknown[] }
  return {
    ...lab,
    interfaces: [...lab.interfaces, { id: 'guest2', role: 'guest', mac: LAB_MACS.guest2 }],
    guestNetworks: [...lab.guestNetworks, { id: 'net2', interface: 'guest2', cidr: DEMO_NET2.cidr, routerIp: DEMO_NET2.router, domain: DEMO_NET2.domain }],
    dhcpHosts: [
      { id: 'vm1', network: 'net1', mac: LAB_MACS.vm1, ip: LAB_ADDR.vm1, hostname: 'vm-one' },
      { id: 'vm2', network: 'net1', mac: LAB_MACS.vm2, ip: LAB_ADDR.vm2, hostname: 'vm-two' },
      { id: 'vm3', network: 'net2', mac: LAB_MACS.vm3, ip: DEMO_NET2.vm3, hostname: 'vm-three' },
    ],
    staticNats: [{ id: 'sn-vm2', publicIp: DEMO_IPS.staticNat, privateIp: LAB_ADDR.vm2 }],
    portForwards: [{
      id: 'pf-web', publicIp: DEMO_IPS.portForward, protocol: 'tcp',
      publicPorts: { start: 8080 }, privateIp: LAB_ADDR.vm1, privatePorts: { start: 80 },
    }],
    firewallRules: [{ id: 'fw-sn-http', publicIp: DEMO_IPS.staticNat, protocol: 'tcp', ports: { start: 80 } }],
  }
}

/** Pure. The firewall rule step (d) adds and removes. */
export function demoFirewallRule(): { id: string; publicIp: string; protocol: 'tcp'; ports: { start: number } } {
  return { id: `fw-sn-${DEMO_FIREWALL_PORT}`, publicIp: DEMO_IPS.staticNat, protocol: 'tcp', ports: { start: DEMO_FIREWALL_PORT } }
}

/** Pure. routerd's own settings for the demo: the API on localhost inside the router namespace. */
export function demoDaemonConfig(dir: string): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1', port: DEMO_API_PORT },
    tokenFile: `${dir}/routerd.token`,
    stateDir: `${dir}/routerd-state`,
    logLevel: 'info',
    driftCheckSeconds: 30,
  }
}

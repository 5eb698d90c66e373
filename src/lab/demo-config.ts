import { LAB_ADDR, labRouterConfig } from './lab.ts'

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
export const DEMO_NAMESPACE = new RegExp(`^${DEMO_PREFIX}[0-9a-f]{6}-(rtr|inet|sw|vm1|vm2)$`)

/** Pure. The lab config plus a static NAT for vm2 (tcp/80 opened) and a port forward to vm1. */
export function demoRouterConfig(): Record<string, unknown> {
  return {
    ...labRouterConfig(),
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

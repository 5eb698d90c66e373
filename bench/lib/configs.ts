import { LAB_ADDR, LAB_MACS, labRouterConfig } from '../../src/lab/lab.ts'
import type { HostFacts } from '../../src/router/model/facts.ts'

/** The documents the suite sends, and the host facts routerd reads in the lab's router namespace. */

export const FORWARD_IP = '203.0.113.12'
export const FIREWALL_IP = '203.0.113.11'
export const FIRST_PORT = 10_000

/** The lab router's links as routerd sees them (readFacts: ether links, sorted by name). */
export function labFacts(controlPorts: number[] = []): HostFacts {
  return {
    links: [
      { name: 'eth0', mac: LAB_MACS.control },
      { name: 'eth1', mac: LAB_MACS.guest },
      { name: 'eth2', mac: LAB_MACS.public0 },
      { name: 'eth3', mac: LAB_MACS.public1 },
    ],
    controlPorts,
  }
}

export function portForward(id: string, port: number): Record<string, unknown> {
  return { id, publicIp: FORWARD_IP, protocol: 'tcp', publicPorts: { start: port }, privateIp: LAB_ADDR.vm1, privatePorts: { start: port } }
}

/** n tcp port forwards FORWARD_IP:p → vm1:p, p = 10000, 10001, … */
export function portForwards(n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => portForward(`pf-${FIRST_PORT + i}`, FIRST_PORT + i))
}

/**
 * n ingress firewall rules on FIREWALL_IP: tcp single ports and small ranges, from one CIDR
 * (a plain -s match) or from two or three (an ipset), none from "anywhere".
 */
export function firewallRules(n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => {
    const third = (i >> 8) & 255
    const fourth = i & 255
    const cidrs = i % 3 === 0
      ? [`100.${64 + third}.${fourth}.0/24`, `198.18.${fourth}.0/24`, ...(i % 2 === 0 ? [`192.0.2.${(i % 64) * 4}/30`] : [])]
      : [`100.${64 + third}.${fourth}.0/24`]
    const ports = i % 10 === 9 ? { start: 1000 + i * 4, end: 1000 + i * 4 + 3 } : { start: 1000 + i * 4 }
    return { id: `fw-${i}`, publicIp: FIREWALL_IP, protocol: 'tcp', ports, sourceCidrs: cidrs }
  })
}

export function baseConfig(): Record<string, unknown> {
  return labRouterConfig()
}

export function withForwards(n: number, firewall = 0): Record<string, unknown> {
  return { ...labRouterConfig(), portForwards: portForwards(n), firewallRules: firewallRules(firewall) }
}

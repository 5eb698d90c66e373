import { formatNetwork, parseCidr } from '../core/ipv4.ts'
import { KeyReader, type NicAddress } from './keys.ts'
import { SSH_PORT } from './defaults.ts'
import type { BootLink, HostSetup } from './plan.ts'

/** Pieces every role reads the same way. Pure. */

export const cidrOf = (nic: NicAddress): string => `${nic.ip}/${nic.prefix}`
export const networkOfNic = (nic: NicAddress): string => formatNetwork(parseCidr(cidrOf(nic))!)

/** Reads dns1/dns2 (the upstream resolvers guests are given or forwarded to). */
export function readDns(r: KeyReader): string[] {
  return [r.ipv4('dns1', false), r.ipv4('dns2', false)].filter((a): a is string => a !== undefined)
}

/** Reads internaldns1/internaldns2 (the resolvers of the cloud's own names, for the VM itself). */
export function readInternalDns(r: KeyReader): string[] {
  return [r.ipv4('internaldns1', false), r.ipv4('internaldns2', false)].filter((a): a is string => a !== undefined)
}

/** The VM's own resolvers, in common.sh's order (internal ones first), each once. */
export function resolversOf(internal: readonly string[], dns: readonly string[]): string[] {
  return [...new Set([...internal, ...dns])]
}

/** The MAC of device N from nic_macs, when given (interfaces are then matched by MAC, not name). */
export function withMac(link: BootLink, macs: readonly string[] | undefined, n: number): BootLink {
  const mac = macs?.[n]
  return mac === undefined ? link : { ...link, mac }
}

/** The image's part, once every key it needs was read without problems. */
export function hostSetup(hostname: string, ssh: { link: string; address: string }, resolvers: string[], authorizedKey: string | undefined,
  links: BootLink[], routes: HostSetup['routes']): HostSetup {
  return {
    hostname, ssh: { ...ssh, port: SSH_PORT }, resolvers,
    ...(authorizedKey === undefined ? {} : { authorizedKey }),
    links, routes,
  }
}

import type { Static } from 'typebox'
import type { RouterdConfig } from '../router/daemon-config.ts'
import type { RouterConfigInput } from '../router/model/config.ts'
import type { RoleName } from '../router/model/roles.ts'
import type { StoragedConfig } from '../storage/daemon-config.ts'
import type { BootProblem } from './keys.ts'

/**
 * What the boot line turns into: the daemons' configs and routerd's first document, and what
 * the image itself sets up before they start (host name, sshd, resolvers, links and routes no
 * daemon owns yet).
 */

/** The roles a boot line may name that this appliance takes. */
export const BOOT_ROLES = ['router', 'dhcpsrvr', 'secstorage'] as const
export type BootRole = (typeof BOOT_ROLES)[number]

/**
 * routerd's role on the secondary storage VM: only the VM's own interfaces, routes and firewall.
 * routerd does not have it yet (router/model/roles.ts has router and dhcpsrvr); until it does,
 * this daemon config does not pass RouterdConfig's role field.
 */
export const NETWORK_ONLY_ROLE = 'hostnet'
export type RouterdRole = RoleName | typeof NETWORK_ONLY_ROLE

// The schemas build these two unions from mapped arrays, which TypeBox's Static types as never;
// the values are checked against the schemas themselves (translate.ts), so spell them out here.
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'
export type RouterdBootConfig = Omit<RouterdConfig, 'role' | 'logLevel'> & { role: RouterdRole; logLevel: LogLevel }
export type StoragedBootConfig = Omit<StoragedConfig, 'logLevel'> & { logLevel: LogLevel }

/** A link of the VM as the boot line gives it (CloudStack's NIC layout: device N is eth<N>). */
export interface BootLink {
  name: string
  role: 'control' | 'guest' | 'public' | 'management' | 'storage'
  /** Interface address with prefix length. */
  address: string
  mac?: string
}

export interface BootRoute {
  /** A network, or `default`. */
  destination: string
  via: string
  link: string
}

export interface HostSetup {
  hostname: string
  /** sshd listens only here, on port 3922, as CloudStack reaches its system VMs. */
  ssh: { link: string; address: string; port: 3922 }
  /** /etc/resolv.conf, in CloudStack's order (internaldns1, internaldns2, dns1, dns2), each once. */
  resolvers: string[]
  /** Base64 of root's authorized_keys, as given. */
  authorizedKey?: string
  /** Every link with an address, and the routes the image sets itself (those no daemon document holds). */
  links: BootLink[]
  routes: BootRoute[]
}

export interface BootPlan {
  /** `type=` as given (absent when the line has none). */
  type?: string
  /** Present only when there is no problem: nothing is started from a line with problems. */
  host?: HostSetup
  routerd?: { daemonConfig: RouterdBootConfig; initialDocument: Static<typeof RouterConfigInput> }
  /** No initial document: the management server names the stores after boot (SecStorageSetupCommand). */
  storaged?: { daemonConfig: StoragedBootConfig }
  problems: BootProblem[]
}

import type { Static } from 'typebox'
import type { RouterdConfig } from '../router/daemon-config.ts'
import type { RouterConfigInput } from '../router/model/config.ts'
import type { RoleName } from '../router/model/roles.ts'
import type { StoragedConfig } from '../storage/daemon-config.ts'
import type { BootProblem } from './keys.ts'

/**
 * What the boot line turns into: the daemons' configs and routerd's first document, and what
 * the image itself sets up before they start (host name, sshd, resolvers, and the routes no
 * daemon document holds).
 */

/** The roles a boot line may name that this appliance takes. */
export const BOOT_ROLES = ['router', 'dhcpsrvr', 'secstorage'] as const
export type BootRole = (typeof BOOT_ROLES)[number]

// The schemas build these two unions from mapped arrays, which TypeBox's Static types as never;
// the values are checked against the schemas themselves (translate.ts), so spell them out here.
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'
export type RouterdBootConfig = Omit<RouterdConfig, 'role' | 'logLevel'> & { role: RoleName; logLevel: LogLevel }
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
  /**
   * The routes the image sets itself, because no daemon document can hold them (a dhcpsrvr's
   * default route through the shared network's gateway), and the links they go through.
   */
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

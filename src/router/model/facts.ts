/**
 * Facts about the host the renderers need, read once by kernel/facts.ts and passed in as a
 * plain value so that rendering stays pure.
 */

export interface HostLink {
  name: string
  /** Lower-case MAC address. */
  mac: string
  /** Kernel interface index (sockets of the DHCP server are pinned to it); absent in fixtures. */
  ifindex?: number
}

export interface HostFacts {
  links: HostLink[]
  /** TCP ports the appliance itself serves on the control interface (control API, SSH). */
  controlPorts: number[]
  /**
   * The user data blobs stored (sha256 → size), when the caller checks references to them: an
   * edit naming bytes never uploaded is refused. Left out when the stored config is loaded at
   * start, so a blob lost on disk costs that VM its user data, not the router its config.
   */
  userData?: ReadonlyMap<string, number>
  /** The TLS certificates stored (ids), when the caller checks references to them, as userData. */
  certificates?: ReadonlySet<string>
}

/** What the services keep outside the config that edits are checked against (services' editFacts). */
export type EditFacts = Pick<HostFacts, 'userData' | 'certificates'>

/** Resolves a config interface to the kernel link name it matches, or undefined. */
export function resolveLinkName(facts: HostFacts, match: { mac?: string | undefined; name?: string | undefined }): string | undefined {
  if (match.mac !== undefined) {
    const mac = match.mac.toLowerCase()
    return facts.links.find((l) => l.mac === mac)?.name
  }
  if (match.name !== undefined) return facts.links.find((l) => l.name === match.name)?.name
  return undefined
}

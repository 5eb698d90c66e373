import { PUBLIC_KEYS, type VmData } from '../config.ts'
import { HOST_BY_IP } from './dhcp-hosts.ts'
import { editedValues, type DomainCheck } from './domain.ts'
import type { Key } from './index.ts'

/**
 * VM data (metadata and user data): for a VM the network knows, by the DHCP host holding its
 * address (that host's MAC is what the kernel admits to the metadata ports), one item per VM;
 * only public-keys holds a list (and a warning when a key cloud-init needs is missing); the user data it names is stored, at the size it says (checked
 * when the caller knows the stored blobs: every edit, not the stored config at start).
 */

/** Network and address: what a VM is known by on the metadata ports. */
/** What cloud-init's CloudStack datasource cannot do without (22.4: a KeyError, or a timeout). */
const CLOUD_INIT_KEYS = ['instance-id', 'availability-zone'] as const

const VM_BY_ADDRESS: Key<'vmData'> = { collection: 'vmData', of: (v) => `${v.network} ${v.ip}` }

export const vmData: DomainCheck = {
  check(ix, push, only) {
    only.each(ix.config, 'vmData', (v, i) => {
      const path = `/vmData/${i}`
      if (!ix.guestNetworks.byId.has(v.network)) {
        push(`${path}/network`, 'ERR_UNKNOWN_NETWORK', `no guest network has id "${v.network}"`)
      } else if (ix.first(HOST_BY_IP, `${v.network} ${v.ip}`) === undefined) {
        push(`${path}/ip`, 'ERR_NO_DHCP_HOST', `no dhcpHosts entry of network "${v.network}" has ${v.ip}: its MAC is what admits the VM to its metadata`)
      }
      const first = ix.firstSharing(VM_BY_ADDRESS, i)
      if (first !== i) push(`${path}/ip`, 'ERR_DUPLICATE_VM_DATA', `${v.ip} of network "${v.network}" already has its data in /vmData/${first}`)
      for (const [key, value] of Object.entries(v.metadata ?? {})) {
        if (Array.isArray(value) && key !== PUBLIC_KEYS) push(`${path}/metadata/${key}`, 'ERR_METADATA_LIST', `only ${PUBLIC_KEYS} may hold a list; "${key}" takes one string`)
      }
      const missing = CLOUD_INIT_KEYS.filter((key) => (v.metadata?.[key] ?? '') === '')
      if (missing.length > 0) {
        push(`${path}/metadata`, 'WARN_METADATA_INCOMPLETE', `cloud-init's CloudStack datasource gives up without ${missing.join(' and ')} (CloudStack always sends them)`, 'warning')
      }
      checkUserData(v, path, ix.facts?.userData, push)
    })
  },
  affected(ix, edit, picks) {
    const networks = editedValues(edit, 'guestNetworks', (n) => n.id)
    if (networks.length > 0) picks.all('vmData', ix.where('vmData', (v) => networks.includes(v.network)))
    const addresses = [
      ...editedValues(edit, 'dhcpHosts', (h) => `${h.network} ${h.ip}`),
      ...editedValues(edit, 'vmData', (v) => `${v.network} ${v.ip}`),
    ]
    if (addresses.length > 0) picks.all('vmData', ix.where('vmData', (v) => addresses.includes(`${v.network} ${v.ip}`)))
  },
}

function checkUserData(v: VmData, path: string, stored: ReadonlyMap<string, number> | undefined, push: Parameters<DomainCheck['check']>[1]): void {
  if (v.userData === undefined || stored === undefined) return
  const size = stored.get(v.userData.sha256)
  if (size === undefined) {
    push(`${path}/userData/sha256`, 'ERR_USER_DATA_MISSING', `no user data is stored under ${v.userData.sha256}: PUT /v1/user-data/${v.userData.sha256} first`)
  } else if (size !== v.userData.size) {
    push(`${path}/userData/size`, 'ERR_USER_DATA_SIZE', `the user data stored under ${v.userData.sha256} is ${size} bytes, not ${v.userData.size}`)
  }
}

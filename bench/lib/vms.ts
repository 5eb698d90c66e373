import { createHash } from 'node:crypto'
import { LAB_MACS } from '../../src/lab/lab.ts'
import type { RouterdApi } from './api.ts'
import { benchConfig, hostIp, hostMac, hostName, NET } from './guest-load.ts'

/**
 * The VMs of bench-metadata on the bench network (10.8.0.0/19, router eth4): each a DHCP host
 * with the metadata CloudStack's management server sends for a VM and 4 KiB of user data, all
 * derived from its index (the same bytes every run). The client VM is vm3 (10.8.0.2 with the lab's
 * vm3 MAC): routerd answers metadata and passwords only to an IP and MAC pair of its dhcpHosts.
 */

export interface BenchVm {
  id: string
  ip: string
  mac: string
  hostname: string
  /** What the config sends (routerd fills in local-hostname, local-ipv4 and public-ipv4). */
  metadata: Record<string, string | string[]>
  userData: Buffer
  sha256: string
}

/** The bench network's source-NAT IP: public-ipv4 and public-hostname of a VM without static NAT. */
export const SOURCE_NAT_IP = '203.0.113.10'
export const USER_DATA_BYTES = 4096
const ZONE_UUID = '5f0d4c0e-7a1b-4c2d-9e3f-0a1b2c3d4e5f'

function hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** Pure. A UUID-shaped id derived from `seed`. */
function uuid(seed: string): string {
  const h = hex(seed)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/** Pure. USER_DATA_BYTES of hash output seeded by `seed` (random-looking, reproducible). */
function userData(seed: string): Buffer {
  const blocks = Array.from({ length: USER_DATA_BYTES / 32 }, (_, k) => createHash('sha256').update(`${seed} ${k}`).digest())
  return Buffer.concat(blocks)
}

function vm(id: string, ip: string, mac: string, hostname: string): BenchVm {
  const instance = uuid(`instance ${id}`)
  const data = userData(`user-data ${id}`)
  const key = createHash('sha256').update(`key ${id}`).digest('base64')
  return {
    id, ip, mac, hostname,
    metadata: {
      'instance-id': instance, 'vm-id': instance, 'service-offering': 'Small Instance', 'availability-zone': 'zone1',
      'public-hostname': SOURCE_NAT_IP, 'cloud-identifier': `CloudStack-{${ZONE_UUID}}`, 'hypervisor-host-name': 'kvm-host-1',
      'public-keys': [`ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${key.slice(0, 43)} user@${hostname}`],
    },
    userData: data,
    sha256: createHash('sha256').update(data).digest('hex'),
  }
}

/** Pure. The VM the load tools run in (vm3). */
export function clientVm(): BenchVm {
  return vm('client', NET.client, LAB_MACS.vm3, 'vm3')
}

/** Pure. n more VMs h0…h<n-1> (the bench network's static hosts: 10.8.0.16 on). */
export function hostVms(n: number): BenchVm[] {
  return Array.from({ length: n }, (_, i) => vm(`h${i}`, hostIp(i), hostMac(i), hostName(i)))
}

/** Pure. Every metadata file a VM is served, routerd's defaults included, one line per public key. */
export function servedMetadata(v: BenchVm): Record<string, string> {
  const out: Record<string, string> = { 'local-hostname': v.hostname, 'local-ipv4': v.ip, 'public-ipv4': SOURCE_NAT_IP }
  for (const [k, value] of Object.entries(v.metadata)) out[k] = Array.isArray(value) ? value.join('\n') : value
  return out
}

/**
 * Pure. The lab config with the bench network (DHCP and DNS on, metadata on by default), the VMs as
 * its dhcpHosts and, with `vmData`, their vmData items (metadata and user data by digest).
 */
export function metadataConfig(vms: readonly BenchVm[], o: { vmData: boolean }): Record<string, unknown> {
  const doc = benchConfig(0, { dhcp: true, dns: true })
  doc['dhcpHosts'] = vms.map((v) => ({ id: v.id, network: 'bench', mac: v.mac, ip: v.ip, hostname: v.hostname }))
  if (o.vmData) {
    doc['vmData'] = vms.map((v) => ({ id: v.id, network: 'bench', ip: v.ip, metadata: v.metadata, userData: { sha256: v.sha256, size: v.userData.length } }))
  }
  return doc
}

/** Uploads the VMs' user data (PUT /v1/user-data/<sha256>, raw bytes), `parallel` at a time. */
export async function uploadUserData(api: RouterdApi, vms: readonly BenchVm[], parallel = 4): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < vms.length; i = next++) {
      const v = vms[i] as BenchVm
      await api.putBytes(`/v1/user-data/${v.sha256}`, v.userData)
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker))
}

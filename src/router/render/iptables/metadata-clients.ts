import { formatIpv4, parseIpv4 } from '../../../core/ipv4.ts'
import type { NDhcpHost } from '../../model/normalize.ts'
import { ownedChain } from '../names.ts'
import { comment } from '../rule-line.ts'
import type { TableBuilder } from './table.ts'

/**
 * Who may reach a network's metadata, user data and password ports. The servers answer each
 * request with the data of its source address, so the kernel first makes sure the address is
 * really that VM's: only the address + MAC pairs of the network's DHCP hosts get through, a VM
 * that takes another's address (with its own MAC) is dropped. This kernel has no hash:ip,mac
 * set, so the pairs are rules; above BUCKET_HOSTS they are split by /26 block, so a new
 * connection walks at most the blocks plus 64 pairs rather than every host of the network.
 *
 *   SVM-GIN-<net>  -d <router ip> -p tcp 80,443,8080 → SVM-MD-<net>
 *   SVM-MD-<net>   -s <ip> -m mac --mac-source <mac> ACCEPT …        (≤ 64 hosts)
 *                  -s <block>/26 → SVM-MDB-<net|block> … ; then DROP  (more)
 */

export const METADATA_PORTS = '80,443,8080'
const BUCKET_HOSTS = 64
const BLOCK_BITS = 6

/** Pure. The chain admitting a network's VMs to its metadata ports. */
export function metadataChain(network: string): string {
  return ownedChain('MD', network)
}

/** Pure apart from writing into `tb`. `hosts`: the network's DHCP hosts, by address. */
export function writeMetadataClients(tb: TableBuilder, network: string, hosts: readonly NDhcpHost[]): void {
  const chain = metadataChain(network)
  tb.chain(chain, `metadata clients of ${network}`)
  if (hosts.length <= BUCKET_HOSTS) {
    for (const h of hosts) tb.add(chain, ...pair(h))
  } else {
    for (const [block, members] of byBlock(hosts)) {
      const sub = ownedChain('MDB', `${network}|${block}`)
      tb.add(chain, '-s', `${block}/${32 - BLOCK_BITS}`, '-j', sub)
      tb.chain(sub, `metadata clients of ${network} in ${block}/${32 - BLOCK_BITS}`)
      for (const h of members) tb.add(sub, ...pair(h))
    }
  }
  tb.add(chain, ...comment('metadata-spoof', network), '-j', 'DROP')
}

function pair(h: NDhcpHost): string[] {
  return ['-s', `${h.ip}/32`, '-m', 'mac', '--mac-source', h.mac, '-j', 'ACCEPT']
}

/** Hosts (already by address) grouped by their /26 block, blocks in address order. */
function byBlock(hosts: readonly NDhcpHost[]): Map<string, NDhcpHost[]> {
  const blocks = new Map<string, NDhcpHost[]>()
  for (const h of hosts) {
    const ip = parseIpv4(h.ip)
    if (ip === undefined) continue
    const key = formatIpv4(((ip >>> BLOCK_BITS) << BLOCK_BITS) >>> 0)
    const members = blocks.get(key)
    if (members === undefined) blocks.set(key, [h])
    else members.push(h)
  }
  return blocks
}

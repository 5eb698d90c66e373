import { LAB_ADDR, type Lab } from '../../src/lab/lab.ts'

/**
 * The lab router namespace as a plain hand-configured router (the throughput peer), and the way
 * back: both sides of the throughput benchmark run in the same lab, because two identical labs
 * differ by up to a quarter in single-stream iperf3 throughput on this machine (an A/A test of
 * three MASQUERADE-only labs gave medians 14.7, 14.8 and 18.3 Gbit/s).
 */

const LINKS = ['eth0', 'eth1', 'eth2', 'eth3']
const SYSCTLS = ['net.ipv4.ip_forward', 'net.ipv4.conf.all.rp_filter', 'net.ipv4.conf.default.rp_filter']

/** The router: addresses, links up, default route, forwarding on and one MASQUERADE rule. */
export async function configureMasqueradeOnly(lab: Lab): Promise<void> {
  const rtr = lab.ns.rtr
  const ip = (...args: string[]) => lab.exec(rtr, 'ip', args)
  await ip('link', 'set', 'eth1', 'up')
  await ip('link', 'set', 'eth2', 'up')
  await ip('address', 'add', `${LAB_ADDR.router}/24`, 'dev', 'eth1')
  await ip('address', 'add', '203.0.113.10/24', 'dev', 'eth2')
  await ip('route', 'add', 'default', 'via', LAB_ADDR.public0Gateway)
  await lab.exec(rtr, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'])
  await lab.exec(rtr, 'iptables', ['-w', '5', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'eth2', '-j', 'MASQUERADE'])
}

/** The sysctls routerd changes, as a fresh lab router has them. */
export async function readSysctls(lab: Lab): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const key of SYSCTLS) out[key] = (await lab.exec(lab.ns.rtr, 'sysctl', ['-n', key])).stdout.trim()
  return out
}

/**
 * Takes the router namespace back to the state of a freshly built lab (routerd must be stopped):
 * no nftables/iptables tables, no ipsets, no policy rules, no addresses, router links down (which
 * removes their routes), no conntrack entries, the sysctls of a fresh lab.
 */
export async function resetRouterNs(lab: Lab, sysctls: Record<string, string>): Promise<void> {
  const rtr = lab.ns.rtr
  await lab.exec(rtr, 'nft', ['flush', 'ruleset'])
  await lab.exec(rtr, 'ipset', ['destroy'])
  const rules = JSON.parse((await lab.exec(rtr, 'ip', ['-json', 'rule', 'show'])).stdout) as { priority: number }[]
  const batch = rules.filter((r) => ![0, 32766, 32767].includes(r.priority)).map((r) => `rule del priority ${r.priority}`)
  for (const dev of LINKS) batch.push(`address flush dev ${dev}`, `link set dev ${dev} down`)
  await lab.exec(rtr, 'ip', ['-batch', '-'], { stdin: batch.join('\n') + '\n' })
  await lab.exec(rtr, 'conntrack', ['-F'], { okCodes: [0, 1] })
  await lab.exec(rtr, 'sysctl', ['-q', '-w', ...Object.entries(sysctls).map(([k, v]) => `${k}=${v}`)])
}

/** What makes the router namespace route and filter, as comparable text (interface indexes and lab names dropped). */
export async function routerStateDump(lab: Lab): Promise<string[]> {
  const rtr = lab.ns.rtr
  const text = async (file: string, args: string[]) => (await lab.exec(rtr, file, args)).stdout
  const parts = [
    await text('ip', ['-4', '-br', 'address', 'show']),
    await text('ip', ['-br', 'link', 'show']),
    await text('ip', ['-4', 'rule', 'show']),
    await text('ip', ['-4', 'route', 'show', 'table', 'all']),
    await text('nft', ['list', 'ruleset']),
    await text('ipset', ['list', '-n']),
    ...(await Promise.all(SYSCTLS.map(async (k) => `${k}=${(await text('sysctl', ['-n', k])).trim()}`))),
  ]
  return parts.join('\n').split('\n')
    .map((l) => l.replace(/@\S+/g, '').replace(/counter packets \d+ bytes \d+/g, 'counter').replace(/\b([0-9a-f]{2}:){5}[0-9a-f]{2}\b/g, 'MAC').replace(/\s+/g, ' ').trim())
    .filter((l) => l !== '')
}

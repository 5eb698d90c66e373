import type { Runner } from '../../core/exec.ts'

/**
 * Kernel settings a router needs. rp_filter is loose (2): with policy routing a reply may
 * legitimately leave by another interface than the main table's route, and strict mode would
 * drop the traffic that comes back.
 */
const ROUTER_SYSCTLS: Readonly<Record<string, string>> = {
  'net.ipv4.ip_forward': '1',
  'net.ipv4.conf.all.rp_filter': '2',
  'net.ipv4.conf.default.rp_filter': '2',
}

export async function applySysctls(runner: Runner, values: Readonly<Record<string, string>> = ROUTER_SYSCTLS): Promise<void> {
  await runner.run('sysctl', ['-q', '-w', ...Object.entries(values).map(([k, v]) => `${k}=${v}`)])
}

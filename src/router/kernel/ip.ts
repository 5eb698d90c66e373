import { OWNED_RT_PROTO } from '../render/names.ts'
import type { CurrentNet } from '../plan/net.ts'
import type { Runner } from '../../core/exec.ts'
import { runBatch } from './restore.ts'

/** Links, addresses, routes and rules: read with `ip -json`, written with one `ip -batch -`. */

interface JsonLink { ifindex: number; ifname: string; mtu: number; flags?: string[]; address?: string; link_type?: string }
interface JsonAddrLink extends JsonLink { addr_info?: { family: string; local: string; prefixlen: number; scope: string }[] }
interface JsonRoute { dst: string; gateway?: string; dev?: string; table?: string }
interface JsonRule { priority: number; src?: string; srclen?: number; fwmark?: string; fwmask?: string; table: string; suppress_prefixlen?: number; protocol?: string }

async function json<T>(runner: Runner, args: string[]): Promise<T> {
  const { stdout } = await runner.run('ip', ['-json', ...args])
  return (stdout.trim() === '' ? [] : JSON.parse(stdout)) as T
}

export async function readLinks(runner: Runner): Promise<JsonLink[]> {
  return json<JsonLink[]>(runner, ['link', 'show'])
}

/** Reads the parts of the network state the planner compares: all links/addresses, owned routes and rules. */
export async function readNet(runner: Runner): Promise<CurrentNet> {
  const [addrs, routes, rules] = await Promise.all([
    json<JsonAddrLink[]>(runner, ['address', 'show']),
    json<JsonRoute[]>(runner, ['route', 'show', 'table', 'all', 'proto', String(OWNED_RT_PROTO)]),
    json<JsonRule[]>(runner, ['rule', 'show']),
  ])
  return {
    links: addrs.map((l) => ({ dev: l.ifname, mtu: l.mtu, up: (l.flags ?? []).includes('UP') })),
    addresses: addrs.flatMap((l) => (l.addr_info ?? [])
      .filter((a) => a.family === 'inet')
      .map((a) => ({ dev: l.ifname, cidr: `${a.local}/${a.prefixlen}`, scope: a.scope }))),
    routes: routes.map((r) => {
      const route: CurrentNet['routes'][number] = { table: r.table === undefined ? 'main' : Number.isNaN(Number(r.table)) ? r.table : Number(r.table), dst: r.dst }
      if (r.gateway !== undefined) route.via = r.gateway
      if (r.dev !== undefined) route.dev = r.dev
      return route
    }),
    rules: rules.filter((r) => r.protocol === String(OWNED_RT_PROTO)).map((r) => {
      const selector: string[] = []
      if (r.fwmark !== undefined) selector.push('fwmark', r.fwmask === undefined ? r.fwmark : `${r.fwmark}/${r.fwmask}`)
      if (r.src !== undefined && r.src !== 'all') selector.push('from', r.srclen === undefined || r.srclen === 32 ? r.src : `${r.src}/${r.srclen}`)
      const table = Number.isNaN(Number(r.table)) ? (r.table as 'main') : Number(r.table)
      return r.suppress_prefixlen === undefined
        ? { priority: r.priority, selector, table }
        : { priority: r.priority, selector, table, suppressPrefixLength: r.suppress_prefixlen }
    }),
  }
}

/** Applies `ip -batch` lines; stops at the first failing line and names it. */
export async function applyIpBatch(runner: Runner, lines: readonly string[]): Promise<void> {
  if (lines.length > 0) await runBatch(runner, 'ip', ['-batch', '-'], lines.join('\n') + '\n', { timeoutMs: 60_000, tool: 'ip -batch' })
}

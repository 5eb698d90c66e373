import type { DesiredNet, DesiredRoute, DesiredRule } from '../render/net.ts'
import { OWNED_RT_PROTO } from '../render/names.ts'

/**
 * Pure. Diffs the desired network state against what the kernel reports and returns `ip -batch`
 * lines, ordered so nothing is ever missing in between: links, address adds, route replaces,
 * rule adds, then rule, route and address deletes. Only owned objects are removed: routes and
 * rules carrying our protocol number, and IPv4 addresses on managed links (link-local ones only
 * if we put them there).
 */

export interface CurrentNet {
  links: { dev: string; mtu: number; up: boolean }[]
  addresses: { dev: string; cidr: string; scope: string }[]
  routes: { table: number | 'main' | string; dst: string; via?: string; dev?: string }[]
  rules: DesiredRule[]
}

export interface NetPlan {
  /** The batch that converges the kernel on the desired state. */
  forward: string[]
  /** The batch that undoes `forward` line for line (for rollback after a failure at line n). */
  inverse: string[]
}

type AnyRoute = CurrentNet['routes'][number]

/**
 * Identities (netifd vlist style): an object with the same key is the same object, changed or
 * not. A route is its table and destination (we set no metric, and the kernel keeps one route
 * per table, destination and metric); an address its link and CIDR; a rule all of it (what
 * `ip rule del` needs to find it). The same key serves what the kernel has and what is desired.
 */
function routeKey(r: AnyRoute): string {
  return `${r.table}|${r.dst}`
}

function addressKey(a: { dev: string; cidr: string }): string {
  return `${a.dev}|${a.cidr}`
}

function ruleKey(rule: DesiredRule): string {
  return [rule.priority, ...rule.selector, 'table', rule.table, rule.suppressPrefixLength ?? ''].join(' ')
}

function tableArg(table: number | string): string[] {
  return table === 'main' ? [] : ['table', String(table)]
}

function routeLine(verb: string, r: AnyRoute): string {
  return ['route', verb, r.dst, ...(r.via ? ['via', r.via] : []), ...(r.dev ? ['dev', r.dev] : []), ...tableArg(r.table), 'proto', String(OWNED_RT_PROTO)].join(' ')
}

function ruleLine(verb: string, r: DesiredRule): string {
  return ['rule', verb, 'priority', String(r.priority), ...r.selector, 'lookup', String(r.table),
    ...(r.suppressPrefixLength === undefined ? [] : ['suppress_prefixlength', String(r.suppressPrefixLength)]),
    'protocol', String(OWNED_RT_PROTO)].join(' ')
}

function sameRoute(a: DesiredRoute, b: AnyRoute): boolean {
  return a.via === b.via && (a.dev === undefined || a.dev === b.dev)
}

export function planNet(current: CurrentNet, desired: DesiredNet): NetPlan {
  const forward: string[] = []
  const inverse: string[] = []
  const step = (doIt: string, undo: string | undefined) => {
    forward.push(doIt)
    inverse.push(undo ?? '')
  }
  const links = new Map(current.links.map((l) => [l.dev, l]))
  for (const want of desired.links) {
    const have = links.get(want.dev)
    if (have === undefined) continue
    if (!have.up || (want.mtu !== undefined && want.mtu !== have.mtu)) {
      step(`link set dev ${want.dev}${want.mtu === undefined ? '' : ` mtu ${want.mtu}`} up`,
        `link set dev ${want.dev} mtu ${have.mtu}${have.up ? '' : ' down'}`)
    }
  }
  const managed = new Set(desired.managedDevs)
  const haveAddr = new Set(current.addresses.map(addressKey))
  const wantAddr = new Set(desired.addresses.map(addressKey))
  for (const a of desired.addresses) {
    if (!haveAddr.has(addressKey(a)) && links.has(a.dev)) step(`address add ${a.cidr} dev ${a.dev}`, `address del ${a.cidr} dev ${a.dev}`)
  }
  const haveRoutes = new Map(current.routes.map((r) => [routeKey(r), r]))
  for (const r of desired.routes) {
    const have = haveRoutes.get(routeKey(r))
    if (have === undefined) step(routeLine('replace', r), routeLine('del', r))
    else if (!sameRoute(r, have)) step(routeLine('replace', r), routeLine('replace', have))
  }
  const haveRules = new Map(current.rules.map((r) => [ruleKey(r), r]))
  const wantRules = new Map(desired.rules.map((r) => [ruleKey(r), r]))
  for (const [key, r] of wantRules) if (!haveRules.has(key)) step(ruleLine('add', r), ruleLine('del', r))
  for (const [key, r] of haveRules) if (!wantRules.has(key)) step(ruleLine('del', r), ruleLine('add', r))
  const wantRouteKeys = new Set(desired.routes.map(routeKey))
  for (const r of current.routes) {
    if (!wantRouteKeys.has(routeKey(r))) step(routeLine('del', r), routeLine('replace', r))
  }
  for (const a of current.addresses) {
    if (!managed.has(a.dev) || wantAddr.has(addressKey(a))) continue
    if (a.scope !== 'global' || a.cidr.startsWith('127.') || a.cidr.startsWith('169.254.')) continue
    step(`address del ${a.cidr} dev ${a.dev}`, `address add ${a.cidr} dev ${a.dev}`)
  }
  return { forward, inverse }
}

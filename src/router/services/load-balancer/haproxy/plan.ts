import { isDeepStrictEqual } from 'node:util'
import type { LoadBalancer } from '../../../model/config.ts'
import { backendName, serverLines } from './render.ts'

/**
 * Pure. How the running HAProxy gets from one desired state to the next: nothing; commands on
 * its runtime API (a backend server added, removed, reweighted, or held down by routerd's
 * checks), with no reload and so no new process; or a seamless reload for anything structural
 * (a load balancer added or removed, its ports, mode, certificate, algorithm, stickiness,
 * checks, limits). The config file always holds the whole desired state, so a later reload or
 * restart loses nothing the commands did.
 */

export type HaproxyPlan = { kind: 'none' } | { kind: 'runtime'; commands: string[] } | { kind: 'reload' }

/** A load balancer without its backends: what a runtime command cannot change. */
function structure(r: LoadBalancer): Omit<LoadBalancer, 'backends'> {
  const { backends: _b, ...rest } = r
  return rest
}

const byId = (lbs: readonly LoadBalancer[]) => new Map(lbs.filter((r) => r.mode === 'http' || r.mode === 'tls').map((r) => [r.id, r]))

export function planHaproxy(before: readonly LoadBalancer[], beforeDown: ReadonlySet<string>, after: readonly LoadBalancer[], afterDown: ReadonlySet<string>): HaproxyPlan {
  const was = byId(before)
  const now = byId(after)
  if (was.size !== now.size || [...now.keys()].some((id) => !was.has(id))) return { kind: 'reload' }
  const commands: string[] = []
  for (const [id, r] of now) {
    const old = was.get(id) as LoadBalancer
    if (!isDeepStrictEqual(structure(old), structure(r))) return { kind: 'reload' }
    const be = backendName(id)
    const oldServers = new Map(serverLines(old, beforeDown).map((s) => [s.name, s]))
    const newServers = new Map(serverLines(r, afterDown).map((s) => [s.name, s]))
    for (const name of oldServers.keys()) {
      if (!newServers.has(name)) commands.push(`set server ${be}/${name} state maint`, `del server ${be}/${name}`)
    }
    for (const [name, s] of newServers) {
      const o = oldServers.get(name)
      if (o === undefined) {
        commands.push(`add server ${be}/${name} ${s.address} ${s.options.join(' ')}`)
        if (!afterDown.has(s.key)) commands.push(`enable server ${be}/${name}`)
        if (s.options.includes('check')) commands.push(`enable health ${be}/${name}`)
        continue
      }
      if (o.address !== s.address) return { kind: 'reload' }
      const weight = s.options.find((x) => x.startsWith('weight ')) as string
      if (o.options.find((x) => x.startsWith('weight ')) !== weight) commands.push(`set weight ${be}/${name} ${weight.slice(7)}`)
      if (o.options.filter((x) => !x.startsWith('weight ')).join(' ') !== s.options.filter((x) => !x.startsWith('weight ')).join(' ')) return { kind: 'reload' }
      const wasDown = beforeDown.has(o.key)
      const isDown = afterDown.has(s.key)
      if (wasDown !== isDown) commands.push(`set server ${be}/${name} state ${isDown ? 'maint' : 'ready'}`)
    }
  }
  return commands.length === 0 ? { kind: 'none' } : { kind: 'runtime', commands }
}

import { secGroupProblems } from '../../secgroup/check.ts'
import type { CollectionName } from '../config.ts'
import type { DomainCheck } from './domain.ts'

/**
 * Security groups (role secgroup): secgroup/check.ts over the three collections. A port, group
 * or rule refers to the others by id and a device is claimed once, so an edit of any of them
 * checks all three (a host holds thousands, not millions: one pass).
 */

const COLLECTIONS: readonly CollectionName[] = ['ports', 'securityGroups', 'securityGroupRules']

export const securityGroups: DomainCheck = {
  check(ix, push, only) {
    const c = ix.config
    const selected = new Map(COLLECTIONS.map((k) => [k, new Set(only.positions(c, k))]))
    if ([...selected.values()].every((s) => s.size === 0)) return
    ix.work += c.ports.length + c.securityGroups.length + c.securityGroupRules.length
    for (const d of secGroupProblems({ ports: c.ports, securityGroups: c.securityGroups, securityGroupRules: c.securityGroupRules })) {
      const [, collection = '', index = ''] = d.path.split('/')
      if (selected.get(collection as CollectionName)?.has(Number(index))) push(d.path, d.code, d.message)
    }
  },
  affected(ix, edit, picks) {
    if (!COLLECTIONS.includes(edit.collection)) return
    for (const k of COLLECTIONS) picks.all(k, ix.where(k, () => true))
  },
}

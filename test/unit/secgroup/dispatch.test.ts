import { describe, expect, it } from 'vitest'
import { dispatchTree } from '../../../src/router/secgroup/dispatch.ts'

const match = { exact: (name: string) => ['-i', name], prefix: (prefix: string) => ['-i', `${prefix}+`] }

/** Walks the tree as the kernel would for a packet on `dev`: the action it reaches, the rules evaluated, the chain depth. */
function walk(chains: [string, string[][]][], dev: string): { action: string | undefined; evaluated: number; depth: number } {
  const byName = new Map(chains)
  let chain = chains[0]?.[0] as string
  let evaluated = 0
  let depth = 1
  for (;;) {
    let next: string | undefined
    for (const rule of byName.get(chain) ?? []) {
      evaluated++
      const name = rule[1] as string
      const hit = name.endsWith('+') ? dev.startsWith(name.slice(0, -1)) : dev === name
      if (!hit) continue
      if (rule[2] === '-j' && byName.has(rule[3] as string)) next = rule[3]
      else return { action: rule.slice(2).join(' '), evaluated, depth }
      break
    }
    if (next === undefined) return { action: undefined, evaluated, depth }
    chain = next
    depth++
  }
}

describe('dispatchTree', () => {
  const tree = (names: string[]) => dispatchTree('ROOT', names.map((name) => ({ name, action: ['-j', `PORT-${name}`] })), match, (p) => `NODE-${p}`)

  it('reaches every port, and only its own, in a few rules and levels (4,096 libvirt-style names)', () => {
    const names = Array.from({ length: 4096 }, (_, i) => `vnet${i}`)
    const chains = tree(names)
    let worst = 0
    let deepest = 0
    for (const name of names) {
      const r = walk(chains, name)
      expect(r.action, name).toBe(`-j PORT-${name}`)
      worst = Math.max(worst, r.evaluated)
      deepest = Math.max(deepest, r.depth)
    }
    expect(worst).toBeLessThanOrEqual(64)
    expect(deepest).toBeLessThanOrEqual(5)
    expect(walk(chains, 'vnet99999').action).toBeUndefined()
    expect(walk(chains, 'eth0').action).toBeUndefined()
  })

  it('names that are prefixes of others, mixed styles, and a handful (one flat chain)', () => {
    const names = ['tap1', 'tap10', 'tap100', 'tap1000', 'tapabc', 'vnet1', 'vnet1a', 'x', ...Array.from({ length: 40 }, (_, i) => `tap1${i}x`)]
    const chains = tree(names)
    for (const name of names) expect(walk(chains, name).action, name).toBe(`-j PORT-${name}`)
    expect(tree(['b', 'a'])).toEqual([['ROOT', [['-i', 'a', '-j', 'PORT-a'], ['-i', 'b', '-j', 'PORT-b']]]])
  })
})

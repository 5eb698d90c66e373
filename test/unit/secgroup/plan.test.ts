import { describe, expect, it } from 'vitest'
import { alignWithPrevious, inPlaceEdit, planSecGroups, planSecGroupsFrom, renderedMembers, secGroupDrift, type SgKernelView } from '../../../src/router/secgroup/plan.ts'
import type { SecGroupDocument } from '../../../src/router/secgroup/model.ts'
import { ebtablesText, iptablesText, renderSecGroups } from '../../../src/router/secgroup/render.ts'

const doc: SecGroupDocument = {
  ports: [
    { id: 'p1', device: 'vnet1', mac: '52:54:00:00:00:01', ipv4: ['10.0.0.1'], groups: ['g'] },
    { id: 'p2', device: 'vnet2', mac: '52:54:00:00:00:02', ipv4: ['10.0.0.2'], groups: ['h'] },
  ],
  securityGroups: [{ id: 'g' }, { id: 'h' }],
  securityGroupRules: [{ id: 'r', group: 'g', direction: 'ingress', protocol: 'tcp', ports: { start: 22 }, remoteGroup: 'g' }],
}
const empty: SgKernelView = { ipv4: '', ipv6: '', ebtables: '', sets: new Map(), counters: new Set() }
const declared = (text: string) => [...text.matchAll(/^:(\S+)/gm)].map((m) => m[1] as string)

/** The raw table as iptables-save shows it (with our jumps when the rendering has zones). */
const rawSave = (r: ReturnType<typeof renderSecGroups>) => iptablesText(r.raw, 'raw')
  .replace('*raw\n', '*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n')
  .replace('COMMIT\n', r.raw.length === 0 ? 'COMMIT\n' : '-A PREROUTING -j SVM-SG-ZONE\n-A OUTPUT -j SVM-SG-ZONEO\nCOMMIT\n')
/** `doc` with p1 on bridge br1 in conntrack zone 11. */
const zoned: SecGroupDocument = { ...doc, ports: [{ ...doc.ports[0]!, bridge: 'br1', zone: 11 }, doc.ports[1]!] }

/** What the save tools would show after `r` was applied on a host that also has a libvirt chain. */
function hostWith(r: ReturnType<typeof renderSecGroups>): SgKernelView {
  const save = (text: string, hooks: string) => text.replace('COMMIT\n', `${hooks}COMMIT\n`).replace('*filter\n', '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:LIBVIRT_FWI - [0:0]\n')
  return {
    ipv4: save(iptablesText(r.ipv4), '-A FORWARD -j SVM-SG-FWD\n-A INPUT -j SVM-SG-IN\n-A FORWARD -j LIBVIRT_FWI\n') + rawSave(r),
    ipv6: save(iptablesText(r.ipv6), '-A FORWARD -j SVM-SG-FWD\n-A INPUT -j SVM-SG-IN\n') + rawSave(r),
    ebtables: save(ebtablesText(r.ebtables).replace(/^-F .*\n/gm, ''), '-A FORWARD -j SVM-SG-EB\n-A INPUT -j SVM-SG-EB\n'),
    sets: new Map([['svm-sg-old', []], ['libvirt-set', ['10.9.9.9']], ...r.sets.map((s) => [s.name, s.entries] as [string, string[]])]),
    counters: new Set(['svm-sgd-gone', 'libvirt-counter', ...r.counters.map((c) => c.name)]),
  }
}

describe('planSecGroups: against what the host shows (pure)', () => {
  it('on a host with nothing of ours: every chain declared, the jumps inserted at the head, sets created and filled, nothing deleted', () => {
    const r = renderSecGroups(doc)
    const plan = planSecGroups(r, empty)
    expect(declared(plan.ipv4)).toEqual(r.ipv4.map(([name]) => name))
    // No zone, no raw table: its hooks would cost every packet the host sees.
    expect(plan.ipv4).not.toContain('*raw')
    expect(plan.ipv4).toContain('-I FORWARD 1 -j SVM-SG-FWD\n-I INPUT 1 -j SVM-SG-IN\nCOMMIT\n')
    expect(plan.ebtables).toContain('-I FORWARD 1 -j SVM-SG-EB\n-I INPUT 1 -j SVM-SG-EB\nCOMMIT\n')
    expect(plan.ipv4).not.toMatch(/^-X /m)
    expect(plan.ipsets.before).toEqual(expect.arrayContaining([expect.stringMatching(/^create svm-sg-\S+ hash:ip family inet6 /), 'add ' + r.sets[0]?.name + ' 10.0.0.1']))
    expect(plan.ipsets.after).toEqual([])
    expect(plan.createCounters).toHaveLength(2 * 7)
    expect(plan.deleteCounters).toEqual([])
    expect(plan.rules).toBe([...r.ipv4, ...r.ipv6, ...r.ebtables, ...r.raw, ...r.raw].reduce((n, [, rules]) => n + rules.length, 0))
  })

  it('against what it applied: nothing to write, no jump twice; what the rendering dropped is deleted, foreign chains and sets never named', () => {
    const before = renderSecGroups(doc)
    const kernel = hostWith(before)
    expect(secGroupDrift(before, kernel)).toEqual(['ipset svm-sg-old: not rendered'])
    const same = planSecGroups(before, kernel)
    expect([same.ipv4, same.ipv6, same.ebtables]).toEqual(['', '', ''])
    expect(same.ipsets.before).toEqual([])
    const after = renderSecGroups({ ...doc, ports: [], securityGroupRules: [] })
    const plan = planSecGroups(after, kernel)
    expect(plan.ipv4).not.toContain('-I ')
    expect(plan.ipv4).toMatch(/^-F SVM-SGI-\S+\n/m)
    expect(plan.ipv4).toMatch(/^-X SVM-SGI-\S+\n/m)
    expect(plan.ipv4).not.toContain('LIBVIRT')
    expect(plan.ebtables).toMatch(/^-X SVM-SGM-\S+\n/m)
    // The counters of the ports removed, and ours a crash left; never another owner's.
    expect(plan.deleteCounters.sort()).toEqual(['svm-sgd-gone', ...before.counters.map((c) => c.name)].sort())
    expect(same.deleteCounters).toEqual(['svm-sgd-gone'])
    expect(plan.ipsets.after.sort()).toEqual([...kernel.sets.keys()].filter((s) => s.startsWith('svm-sg')).map((s) => `destroy ${s}`).sort())
    expect(secGroupDrift(after, kernel)).toEqual(expect.arrayContaining([expect.stringMatching(/^iptables SVM-SGI-\S+: not rendered$/)]))
  })

  it('zones: the raw chains and their jumps come with the first zone and go with the last, jumps deleted before the chains', () => {
    const withZones = renderSecGroups(zoned)
    const first = planSecGroups(withZones, hostWith(renderSecGroups(doc)))
    expect(first.ipv4).toContain('*raw\n:SVM-SG-ZONE - [0:0]\n:SVM-SG-ZONEO - [0:0]\n-A SVM-SG-ZONE -i br1 -j CT --zone 11\n-A SVM-SG-ZONEO -o br1 -j CT --zone 11\n-I PREROUTING 1 -j SVM-SG-ZONE\n-I OUTPUT 1 -j SVM-SG-ZONEO\nCOMMIT\n')
    const host = hostWith(withZones)
    expect(secGroupDrift(withZones, host)).toEqual(['ipset svm-sg-old: not rendered'])
    const off = '*raw\n-D PREROUTING -j SVM-SG-ZONE\n-D OUTPUT -j SVM-SG-ZONEO\n-F SVM-SG-ZONE\n-F SVM-SG-ZONEO\n-X SVM-SG-ZONE\n-X SVM-SG-ZONEO\nCOMMIT\n'
    expect(planSecGroups(renderSecGroups(doc), host).ipv4).toContain(off)
    expect(planSecGroupsFrom(withZones, renderedMembers(withZones), renderSecGroups(doc)).ipv4).toContain(off)
    expect(planSecGroupsFrom(renderSecGroups(doc), renderedMembers(withZones), withZones).ipv6).toContain('-I PREROUTING 1 -j SVM-SG-ZONE\n-I OUTPUT 1 -j SVM-SG-ZONEO\nCOMMIT\n')
  })

  it('a jump into our chains that the rendering does not have is drift, and deleted; another owner\'s jump is not ours', () => {
    const r = renderSecGroups(doc)
    const kernel = hostWith(r)
    const stray = { ...kernel, ipv4: kernel.ipv4.replace('-A FORWARD -j LIBVIRT_FWI\n', '-A FORWARD -j LIBVIRT_FWI\n-A FORWARD -i br9 -j SVM-SG-IN\n') }
    expect(secGroupDrift(r, stray)).toEqual(['iptables FORWARD -i br9 -j SVM-SG-IN: a jump of ours not rendered', 'ipset svm-sg-old: not rendered'])
    expect(planSecGroups(r, stray).ipv4).toBe('*filter\n-D FORWARD -i br9 -j SVM-SG-IN\nCOMMIT\n')
  })

  it('a chain edited by hand is the only one written again', () => {
    const r = renderSecGroups(doc)
    const kernel = hostWith(r)
    const victim = r.ipv4.find(([name]) => name.startsWith('SVM-SGS-'))?.[0] as string
    const edited = { ...kernel, ipv4: kernel.ipv4.replace(new RegExp(`^-A ${victim} .*\\n`, 'm'), '') }
    expect(secGroupDrift(r, edited)).toEqual([expect.stringMatching(new RegExp(`^iptables ${victim}: \\d+ rules differ`)), 'ipset svm-sg-old: not rendered'])
    expect(declared(planSecGroups(r, edited).ipv4)).toEqual([victim])
  })
})

describe('inPlaceEdit (pure)', () => {
  const apply = (was: string[], edit: NonNullable<ReturnType<typeof inPlaceEdit>>) => {
    const rules = [...was]
    for (const n of edit.deletes) rules.splice(n - 1, 1)
    for (const [n, rule] of edit.inserts) rules.splice(n - 1, 0, rule)
    return rules
  }
  it.each([
    [['a', 'b', 'drop'], ['a', 'b', 'c', 'drop']],
    [['a', 'b', 'c', 'drop'], ['a', 'c', 'drop']],
    [['a', 'b', 'drop'], ['x', 'a', 'b', 'drop']],
    [['a', 'b', 'c', 'drop'], ['a', 'x', 'y', 'drop']],
    [['a', 'a', 'drop'], ['a', 'drop']],
    [[], ['a']],
    [['a'], []],
  ])('%j -> %j: rule numbers that, applied in order, give the new chain', (was, now) => {
    const edit = inPlaceEdit(was, now)
    expect(edit).toBeDefined()
    expect(apply(was, edit!)).toEqual(now)
  })
  it('many changes: refilled instead', () => {
    expect(inPlaceEdit(['a'], Array.from({ length: 12 }, (_, i) => `r${i}`))).toBeUndefined()
  })
})

describe('planSecGroupsFrom: an edit against the previous apply (pure)', () => {
  const before = renderSecGroups(doc)
  const members = renderedMembers(before)

  it('one rule added to a group is one rule inserted in the ingress chain of each of its ports, nothing else', () => {
    const after = renderSecGroups({ ...doc, securityGroupRules: [...doc.securityGroupRules, { id: 'r2', group: 'h', direction: 'ingress', protocol: 'udp', ports: { start: 53 }, cidrs: ['10.0.0.0/8'] }] })
    const plan = planSecGroupsFrom(before, members, after)
    expect(declared(plan.ipv4)).toEqual([])
    const ingress = after.ipv4.find(([name, rules]) => name.startsWith('SVM-SGI-') && rules.some((r) => r.includes('--dport 53'))) as [string, string[]]
    const at = ingress[1].findIndex((r) => r.includes('--dport 53')) + 1
    expect(plan.ipv4).toBe(`*filter\n-I ${ingress[0]} ${at} ${ingress[1][at - 1]}\nCOMMIT\n`)
    expect(plan).toMatchObject({ chains: 1, rules: 1 })
    // The rule is IPv4 only: the IPv6 chains are the same, and ebtables never changes for a rule.
    expect(plan.ipv6).toBe('')
    expect(plan.ebtables).toBe('')
    expect(plan.ipsets.before).toEqual([])
  })

  it('a port joining a remote group is one set member added, not a set rebuilt', () => {
    const p2 = { ...doc.ports[1]!, groups: ['h', 'g'] }
    const after = renderSecGroups({ ...doc, ports: [doc.ports[0]!, p2] })
    const plan = planSecGroupsFrom(before, members, after)
    const v4 = before.sets.find((s) => s.family === undefined)?.name as string
    expect(plan.ipsets.before).toEqual([`add ${v4} 10.0.0.2`])
    expect([plan.createCounters, plan.deleteCounters]).toEqual([[], []])
    // Its rules: p2's ingress chains (it now has g's rule), in both families.
    expect(declared(plan.ipv4).every((c) => c.startsWith('SVM-SGI-'))).toBe(true)
  })

  it('the same document writes nothing; the previous rendering\'s chains never re-rendered are compared by identity', () => {
    const plan = planSecGroupsFrom(before, members, renderSecGroups(doc))
    expect(plan).toMatchObject({ ipv4: '', ipv6: '', ebtables: '', chains: 0, rules: 0 })
    expect(plan.ipsets.before).toEqual([])
  })
})

describe('alignWithPrevious (pure)', () => {
  const chains = (names: string[]): [string, string[]][] => names.map((n) => [n, [`-j ${n}-rules`]])
  /** What it must give: every wanted chain looked up by name, and the previous chains not wanted. */
  const byName = (previous: [string, string[]][], want: [string, string[]][]) => {
    const had = new Map(previous)
    const wanted = new Set(want.map(([n]) => n))
    return { was: want.map(([n]) => had.get(n)), stale: previous.map(([n]) => n).filter((n) => !wanted.has(n)) }
  }

  it('gives what a lookup by name gives, whatever was inserted, deleted or moved', () => {
    let seed = 7
    const next = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
    for (let round = 0; round < 300; round++) {
      const names = Array.from({ length: 2 + next(30) }, (_, i) => `C${i}`)
      const want = names.filter(() => next(5) > 0)
      // Some previous chains are gone from want, some wanted are new, some moved.
      const previous = [...names.filter(() => next(5) > 0), ...Array.from({ length: next(3) }, (_, i) => `OLD${i}`)]
      if (next(4) === 0 && previous.length > 1) previous.push(previous.splice(next(previous.length), 1)[0] as string)
      const p = chains(previous)
      const w = chains(want)
      const got = alignWithPrevious(p, w)
      const expected = byName(p, w)
      expect(w.map((_, i) => got.was(i))).toEqual(expected.was)
      expect([...got.stale].sort()).toEqual([...expected.stale].sort())
    }
  })

  it('a chain added among many: the rest aligned by position, the same arrays', () => {
    const previous = chains(Array.from({ length: 1000 }, (_, i) => `C${String(i).padStart(4, '0')}`))
    const want = [...previous.slice(0, 500), ['C0499b', ['-j X']] as [string, string[]], ...previous.slice(500)]
    const got = alignWithPrevious(previous, want)
    expect(got.stale).toEqual([])
    expect(got.was(500)).toBeUndefined()
    expect(want.filter(([, rules], i) => i !== 500 && got.was(i) !== rules)).toEqual([])
  })
})

import { describe, expect, it } from 'vitest'
import { planIptables, withoutSetReferences } from '../../../src/router/plan/iptables.ts'
import { planIpsets } from '../../../src/router/plan/ipset.ts'
import { renderRouter } from '../../../src/router/render/index.ts'
import { emptyConfig, type RouterConfig } from '../../../src/router/model/config.ts'
import { checkRestoreConsistency } from '../render/consistency.ts'

const facts = { links: [{ name: 'eth1', mac: '02:00:00:00:00:01' }, { name: 'eth2', mac: '02:00:00:00:00:02' }], controlPorts: [] }

function config(forwards: number, extra: Partial<RouterConfig> = {}): RouterConfig {
  return {
    ...emptyConfig(),
    interfaces: [{ id: 'g', role: 'guest', name: 'eth1' }, { id: 'p', role: 'public', name: 'eth2', gateway: '203.0.113.1' }],
    publicIps: [{ id: 'ip', ip: '203.0.113.12', prefixLength: 24, interface: 'p', sourceNat: true }],
    guestNetworks: [{ id: 'n', interface: 'g', cidr: '10.1.0.0/16', routerIp: '10.1.0.1' }],
    portForwards: Array.from({ length: forwards }, (_, i) => ({
      id: `pf${i}`, publicIp: '203.0.113.12', protocol: 'tcp' as const, publicPorts: { start: 10000 + i }, privateIp: '10.1.1.5', privatePorts: { start: 10000 + i },
    })),
    ...extra,
  }
}

describe('planIptables', () => {
  it('with no previous state replaces every owned table whole', () => {
    const plan = planIptables(undefined, renderRouter(config(3), facts).tables)
    expect(plan.kind).toBe('full')
    expect(plan.tables.map((t) => t.name)).toEqual(['raw', 'mangle', 'nat', 'filter'])
  })

  it('the same state twice plans nothing', () => {
    const r = renderRouter(config(50), facts).tables
    expect(planIptables(r, renderRouter(config(50), facts).tables)).toMatchObject({ kind: 'none', tables: [] })
  })

  it('adding one port forward to 10,000 rewrites one small nat bucket chain and adds one set member', () => {
    const before = renderRouter(config(10_000), facts)
    const after = renderRouter(config(10_001), facts)
    const plan = planIptables(before.tables, after.tables)
    expect(plan.kind).toBe('partial')
    expect(plan.tables.map((t) => t.name)).toEqual(['nat'])
    expect(plan.chainsWritten).toBe(1)
    expect(plan.rulesWritten).toBe(1)
    const text = plan.tables.map((t) => t.text).join('')
    expect(text.split('\n').filter((l) => l.startsWith('-A ') || l.startsWith(':'))).toHaveLength(1)
    expect(text).toMatch(/^-A SVM-DNB-\S+ -p tcp -m tcp --dport 20000 -m comment --comment svm:pf:pf10000 -j DNAT --to-destination 10\.1\.1\.5$/m)
    const sets = planIpsets(new Map(before.ipsets.map((s) => [s.name, s.entries])), after.ipsets, () => true)
    expect(sets.before).toEqual(['add svm-pf-open 203.0.113.12,tcp:20000'])
  })

  it('removing one forward among many deletes its one rule by specification', () => {
    const before = renderRouter(config(300), facts).tables
    const after = renderRouter({ ...config(300), portForwards: config(300).portForwards.filter((r) => r.id !== 'pf7') }, facts).tables
    const text = planIptables(before, after).tables.map((t) => t.text).join('')
    expect(text.split('\n').filter((l) => /^[-:]/.test(l))).toEqual([
      expect.stringMatching(/^-D SVM-DNB-\S+ -p tcp -m tcp --dport 10007 -m comment --comment svm:pf:pf7 -j DNAT --to-destination 10\.1\.1\.5$/),
    ])
  })

  it('removing the last rule of a bucket deletes its chain after rewriting the chain that jumped to it', () => {
    const before = renderRouter(config(1), facts).tables
    const after = renderRouter(config(0), facts).tables
    const nat = planIptables(before, after).tables.find((t) => t.name === 'nat')?.text ?? ''
    const lines = nat.split('\n')
    const deletes = lines.filter((l) => l.startsWith('-X '))
    expect(deletes.length).toBeGreaterThan(0)
    const firstDelete = lines.findIndex((l) => l.startsWith('-X '))
    expect(lines.slice(firstDelete).every((l) => l.startsWith('-X ') || l === 'COMMIT' || l === '')).toBe(true)
  })

  it('a changed policy or built-in chain falls back to a full plan', () => {
    const before = renderRouter(config(1), facts).tables
    const changed = before.map((t) => (t.name === 'filter' ? { ...t, builtins: { ...t.builtins, OUTPUT: { policy: 'DROP' as const, rules: [] } } } : t))
    expect(planIptables(before, changed).kind).toBe('full')
  })
})

describe('checkRestoreConsistency (the golden consistency check) can fail', () => {
  it('reports an undeclared jump target, an unknown set and an unreachable chain', () => {
    const text = '*filter\n:INPUT DROP [0:0]\n:SVM-A - [0:0]\n:SVM-B - [0:0]\n-A INPUT -j SVM-A\n-A SVM-A -j SVM-C\n-A SVM-A -m set --match-set nope src -j ACCEPT\nCOMMIT\n'
    expect(checkRestoreConsistency(text, '')).toEqual([
      'filter: SVM-A jumps to undeclared SVM-C',
      'filter: unknown set nope',
      'filter: SVM-B is never jumped to',
    ])
  })
})

describe('withoutSetReferences', () => {
  it('drops exactly the rules that match on the named sets, in built-in and owned chains; the rest is untouched', () => {
    const forwards = renderRouter(config(3), facts).tables
    const open = forwards.flatMap((t) => [...t.chains.values()].flat()).find((r) => r.includes('--match-set svm-pf-open '))
    expect(open).toBeDefined()
    const out = withoutSetReferences(forwards, ['svm-pf-open'])
    const lines = (ts: typeof forwards) => ts.flatMap((t) => [...Object.values(t.builtins).flatMap((b) => b.rules), ...[...t.chains.values()].flat()])
    expect(lines(out).some((r) => r.includes('svm-pf-open'))).toBe(false)
    expect(lines(forwards).filter((r) => !r.includes('--match-set svm-pf-open ')).length).toBe(lines(out).length)
    expect(out.map((t) => [...t.chains.keys()])).toEqual(forwards.map((t) => [...t.chains.keys()]))
  })

  it('a rule naming the set in its second set match is dropped too', () => {
    const t = { name: 'filter' as const, builtins: {}, banners: new Map(), unordered: new Set<string>(),
      chains: new Map([['SVM-X', ['-m set --match-set svm-a src -m set --match-set svm-b dst -j ACCEPT', '-m set --match-set svm-a src -j ACCEPT']]]) }
    expect([...withoutSetReferences([t], ['svm-b'])[0]!.chains.get('SVM-X')!]).toEqual(['-m set --match-set svm-a src -j ACCEPT'])
  })
})

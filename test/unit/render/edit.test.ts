import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { PortForward, RouterConfig } from '../../../src/router/model/config.ts'
import type { HostFacts } from '../../../src/router/model/facts.ts'
import { withItem } from '../../../src/router/model/items.ts'
import { validateConfig } from '../../../src/router/model/parse.ts'
import { NO_RUNTIME_FACTS } from '../../../src/router/model/runtime.ts'
import { renderFiles, renderRouter, type RenderedRouter } from '../../../src/router/render/index.ts'
import { indexPortRules, withoutPortRule, withPortRule } from '../../../src/router/render/iptables/port-buckets.ts'
import { planIptables } from '../../../src/router/plan/iptables.ts'

/**
 * Rendering an item edit from the previous rendering (render/edit.ts) must give what rendering
 * the edited config whole gives: the same files byte for byte, and the same data in the same
 * order (chains, unordered chains, set members, NAT keys), after any number of edits in a row.
 */

const root = new URL('../../golden/full/', import.meta.url)
const facts = JSON.parse(readFileSync(new URL('facts.json', root), 'utf8')) as HostFacts
const PUBLIC = ['203.0.113.10', '203.0.113.11', '203.0.113.12', '198.51.100.10']

/** Deterministic PRNG (mulberry32): the same edits every run. */
function prng(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Everything a rendering holds, as plain ordered data (Map and Set order included). */
function snapshot(r: RenderedRouter): unknown {
  return {
    files: renderFiles(r),
    tables: r.tables.map((t) => ({
      name: t.name, builtins: t.builtins, chains: [...t.chains], banners: [...t.banners], unordered: [...t.unordered],
    })),
    ipsets: r.ipsets,
    nat: [...r.nat],
    net: r.net,
    warnings: r.warnings,
  }
}

function baseConfig(): RouterConfig {
  const doc = JSON.parse(readFileSync(new URL('config.json', root), 'utf8'))
  // Firewall rules sharing buckets (and a start port) with forwards of the same IP, and one without ports.
  doc.firewallRules.push(
    { id: 'fw-pf-a', publicIp: '203.0.113.12', protocol: 'tcp', ports: { start: 40_000, end: 40_010 }, sourceCidrs: ['192.0.2.0/24'] },
    { id: 'fw-pf-b', publicIp: '203.0.113.12', protocol: 'tcp', ports: { start: 40_100 }, sourceCidrs: ['198.18.0.0/15', '192.0.2.0/24'] },
    { id: 'fw-pf-c', publicIp: '203.0.113.12', protocol: 'udp', ports: { start: 41_000, end: 42_000 } },
    { id: 'fw-pf-icmp', publicIp: '203.0.113.12', protocol: 'icmp' },
  )
  // A public IP with nothing on it yet.
  doc.publicIps.push({ id: 'ip-fresh', ip: '203.0.113.13', prefixLength: 24, interface: 'pub0' })
  const v = validateConfig(doc, facts)
  if (!v.ok) throw new Error(JSON.stringify(v.diagnostics))
  return v.config
}

/** Forwards of random shape on free ports: single ports, small and wide ranges, limited sources, tcp and udp. */
class ForwardMaker {
  private readonly random: () => number
  private n = 0
  constructor(seed: number) {
    this.random = prng(seed)
  }

  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.random() * list.length)] as T
  }

  make(config: RouterConfig, id = `pf-gen-${this.n++}`): PortForward {
    for (;;) {
      const publicIp = this.pick(PUBLIC)
      const protocol = this.pick(['tcp', 'tcp', 'udp'] as const)
      const span = this.pick([1, 1, 1, 2, 16, 64, 65, 300, 1500])
      // Near the firewall rules' ports now and then, so forwards and rules share buckets.
      const start = this.random() < 0.3 ? 40_000 + Math.floor(this.random() * 2000) : 1 + Math.floor(this.random() * 60_000)
      const end = start + span - 1
      const busy = config.portForwards.some((f) => f.id !== id && f.publicIp === publicIp && f.protocol === protocol &&
        f.publicPorts.start <= end && (f.publicPorts.end ?? f.publicPorts.start) >= start)
      if (busy || end > 65_535) continue
      const f: PortForward = {
        id, publicIp, protocol, publicPorts: span === 1 ? { start } : { start, end },
        privateIp: `10.1.1.${10 + Math.floor(this.random() * 200)}`, privatePorts: span === 1 ? { start: 1 + Math.floor(this.random() * 1000) } : { start, end },
      }
      const sources = this.pick([undefined, undefined, ['192.0.2.0/24'], ['192.0.2.0/24', '198.18.0.0/15'], ['0.0.0.0/0']])
      if (sources !== undefined) f.sourceCidrs = sources
      return f
    }
  }
}

describe('rendering an item edit from the previous rendering', () => {
  it('gives what a whole rendering gives, after each of 300 edits in a row (adds, replacements, deletes, the same item again)', () => {
    const maker = new ForwardMaker(7)
    let config = baseConfig()
    for (let i = 0; i < 150; i++) config = withItem(config, 'portForwards', `pf-start-${i}`, maker.make(config, `pf-start-${i}`))
    let rendered = renderRouter(config, facts)
    const random = prng(11)
    let fromEdit = 0
    let recent = 'pf-start-0'
    for (let step = 0; step < 300; step++) {
      const ids = config.portForwards.map((f) => f.id)
      const roll = random()
      let id: string
      let item: PortForward | null
      if (roll < 0.35) [id, item] = [`pf-new-${step}`, null]
      else if (roll < 0.55) [id, item] = [recent, null]
      else [id, item] = [ids[Math.floor(random() * ids.length)] as string, null]
      const exists = ids.includes(id)
      // Adds, replacements (often of the item edited just before) and deletes; a deleted id may come back.
      if (!exists || random() < 0.7) item = maker.make(config, id)
      else if (ids.length <= 1) continue
      config = withItem(config, 'portForwards', id, item)
      recent = id
      const edited = renderRouter(config, facts, 'router', NO_RUNTIME_FACTS, rendered)
      const whole = renderRouter(config, facts)
      expect(snapshot(edited), `step ${step}: ${item === null ? 'delete' : 'put'} ${id}`).toEqual(snapshot(whole))
      // The filter table does not depend on forwards: an edit rendering shares it.
      if (edited.tables[3] === rendered.tables[3]) fromEdit++
      rendered = edited
    }
    // Most edits went through the edit path (a whole rendering is the fallback for a few shapes).
    expect(fromEdit).toBeGreaterThan(225)
  })

  it('plans one rule for a forward added among many: only its bucket chain changes', () => {
    let config = baseConfig()
    for (let i = 0; i < 2000; i++) {
      config = withItem(config, 'portForwards', `pf-${i}`, fwd(`pf-${i}`, 10_000 + 2 * i))
    }
    const before = renderRouter(config, facts)
    const next = withItem(config, 'portForwards', 'pf-new', fwd('pf-new', 12_101))
    const after = renderRouter(next, facts, 'router', NO_RUNTIME_FACTS, before)
    const plan = planIptables(before.tables, after.tables)
    expect(plan.tables.map((t) => t.text)).toEqual([expect.stringMatching(/^\*nat\n-A SVM-DNB-\S+ -p tcp -m tcp --dport 12101 .*svm:pf:pf-new .*\nCOMMIT\n$/)])
    expect(after.tables.filter((t, k) => t !== before.tables[k]).map((t) => t.name)).toEqual(['mangle', 'nat'])
    const open = (r: RenderedRouter) => r.ipsets.find((s) => s.name === 'svm-pf-open')?.entries ?? []
    expect(open(after).length).toBe(open(before).length + 1)
    expect(snapshot(after)).toEqual(snapshot(renderRouter(next, facts)))
  })

  it.each([
    { name: 'a config with another collection changed renders whole', edit: (c: RouterConfig) => withItem(c, 'staticRoutes', 'rt2', { id: 'rt2', cidr: '172.20.0.0/16', via: '10.1.1.254' }) },
    { name: 'a config with two forwards changed renders whole', edit: (c: RouterConfig) => withItem(withItem(c, 'portForwards', 'a1', fwd('a1', 30_001)), 'portForwards', 'a2', fwd('a2', 30_002)) },
    { name: 'the first forward of an IP without static NAT renders whole (its DNAT chain is new)', edit: (c: RouterConfig) => withItem(c, 'portForwards', 'a3', { ...fwd('a3', 30_003), publicIp: '203.0.113.13' }) },
    { name: 'a forward with a rule of its own at a firewall rule\'s start port renders whole (their order is the input order)', edit: (c: RouterConfig) => withItem(c, 'portForwards', 'a4', { ...fwd('a4', 40_000), sourceCidrs: ['192.0.2.0/24'] }) },
  ])('$name', ({ edit }) => {
    const config = baseConfig()
    const before = renderRouter(config, facts)
    const next = edit(config)
    const after = renderRouter(next, facts, 'router', NO_RUNTIME_FACTS, before)
    expect(after.tables[3]).not.toBe(before.tables[3])
    expect(snapshot(after)).toEqual(snapshot(renderRouter(next, facts)))
  })

  it('renders whole for other host facts (another object), and gives the earlier rendering back for the same config', () => {
    const config = baseConfig()
    const before = renderRouter(config, facts)
    expect(renderRouter(config, facts, 'router', NO_RUNTIME_FACTS, before)).toBe(before)
    const next = withItem(config, 'portForwards', 'x', fwd('x', 30_100))
    expect(renderRouter(next, { ...facts }, 'router', NO_RUNTIME_FACTS, before).tables[3]).not.toBe(before.tables[3])
  })
})

describe('port bucket index edits', () => {
  const rule = (start: number, end = start, line = `r${start}`) => ({ protocol: 'tcp' as const, start, end, line })
  it.each([
    { name: 'a rule at a start port already held is refused (their order would be the input order)', index: [rule(100)], add: rule(100, 100, 'other'), ok: false },
    { name: 'a wide rule at a start port already held is refused', index: [rule(100, 900)], add: rule(100, 700, 'other'), ok: false },
    { name: 'a rule at a free port is taken', index: [rule(100)], add: rule(101), ok: true },
  ])('$name', ({ index, add, ok }) => {
    const built = indexPortRules('T', 'k', index)
    expect(withPortRule(built, add) !== undefined).toBe(ok)
  })

  it('removing a rule it does not hold is refused', () => {
    expect(withoutPortRule(indexPortRules('T', 'k', [rule(100)]), rule(100, 100, 'other'))).toBeUndefined()
  })
})

function fwd(id: string, port: number): PortForward {
  return { id, publicIp: '203.0.113.12', protocol: 'tcp', publicPorts: { start: port }, privateIp: '10.1.1.10', privatePorts: { start: port } }
}

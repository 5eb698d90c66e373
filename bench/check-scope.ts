import { performance } from 'node:perf_hooks'
import { labRouterConfig } from '../src/lab/lab.ts'
import { checkConfig, type CheckScope } from '../src/router/model/check.ts'
import type { CollectionItem, CollectionName, RouterConfig } from '../src/router/model/config.ts'
import { withItem } from '../src/router/model/items.ts'
import { labFacts, portForwards } from './lib/configs.ts'

/**
 * The semantic check of one item edit against the whole-document check, on a document with
 * 10,000 port forwards and 4,096 DHCP hosts (the sizes the core and DHCP benchmarks use).
 * `npx tsc -p tsconfig.bench.json && node build/bench/bench/check-scope.js`; prints medians in ms.
 */

const HOSTS = 4096
const ROUNDS = 31

function largeDocument(): RouterConfig {
  const config = { ...labRouterConfig(), portForwards: portForwards(10_000) } as unknown as RouterConfig
  config.interfaces.push({ id: 'guest2', role: 'guest', name: 'eth4' })
  config.guestNetworks.push({ id: 'net2', interface: 'guest2', cidr: '10.8.0.0/19', routerIp: '10.8.0.1', domain: 'bench.internal' })
  config.dhcpHosts = Array.from({ length: HOSTS }, (_, i) => ({
    id: `h-${i}`, network: 'net2', mac: `02:00:00:01:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
    ip: `10.8.${(i + 16) >> 8}.${(i + 16) & 255}`, hostname: `host-${i}`,
  }))
  return config
}

function median(fn: () => void): number {
  const samples: number[] = []
  for (let i = 0; i < ROUNDS; i++) {
    const start = performance.now()
    fn()
    samples.push(performance.now() - start)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(ROUNDS / 2)] ?? NaN
}

function edit<C extends CollectionName>(config: RouterConfig, collection: C, id: string, item: CollectionItem<C> | null): { next: RouterConfig; scope: CheckScope } {
  const items = config[collection] as CollectionItem<C>[]
  const existing = items.find((x) => x.id === id)
  const index = existing === undefined ? items.length : items.indexOf(existing)
  return { next: withItem(config, collection, id, item), scope: { collection, index, previous: existing, removed: item === null } }
}

const config = largeDocument()
const facts = labFacts()
facts.links.push({ name: 'eth4', mac: '02:5e:00:00:00:05' })
const problems = checkConfig(config, facts)
if (problems.length > 0) throw new Error(`the document is not clean: ${JSON.stringify(problems.slice(0, 3))}`)

const forward = { id: 'pf-new', publicIp: '203.0.113.12', protocol: 'tcp' as const, publicPorts: { start: 40000 }, privateIp: '10.1.1.10', privatePorts: { start: 80 } }
const host = { ...config.dhcpHosts[100]!, ip: '10.8.31.200' }
const cases = [
  { name: 'add one port forward', ...edit(config, 'portForwards', 'pf-new', forward) },
  { name: 'remove one port forward', ...edit(config, 'portForwards', 'pf-10000', null) },
  { name: 'move one DHCP host', ...edit(config, 'dhcpHosts', host.id, host) },
  { name: 'change the guest network of the hosts', ...edit(config, 'guestNetworks', 'net2', { ...config.guestNetworks[1]!, domain: 'other.internal' }) },
  { name: 'change the public IP of the forwards', ...edit(config, 'publicIps', 'ip-pf', { ...config.publicIps[2]!, sourceNat: false }) },
]

// Warm every path up first, so that neither side is measured while the JIT compiles it.
for (let i = 0; i < 20; i++) {
  checkConfig(cases[0]!.next, facts)
  for (const c of cases) checkConfig(c.next, facts, c.scope)
}
const whole = median(() => checkConfig(cases[0]!.next, facts))
console.log(`whole-document check: ${whole.toFixed(3)} ms (median of ${ROUNDS})`)
for (const c of cases) {
  const scoped = median(() => checkConfig(c.next, facts, c.scope))
  const errors = (list: { severity: string }[]) => JSON.stringify(list.filter((d) => d.severity === 'error'))
  const same = errors(checkConfig(c.next, facts, c.scope)) === errors(checkConfig(c.next, facts))
  console.log(`${c.name.padEnd(40)} scoped ${scoped.toFixed(3)} ms  (${(whole / scoped).toFixed(0)}x less; same errors as whole: ${same})`)
}

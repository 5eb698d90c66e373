import { it } from 'vitest'
import { renderRouter } from '../../src/render/index.ts'
import { validateConfig } from '../../src/model/parse.ts'
import { checkConfig } from '../../src/model/check.ts'
import { emptyConfig } from '../../src/model/config.ts'
import { planIptables } from '../../src/plan/iptables.ts'
const facts = { links: [{ name: 'eth1', mac: '02:00:00:00:00:01' }, { name: 'eth2', mac: '02:00:00:00:00:02' }], controlPorts: [] }
const cfg = (n: number) => ({ ...emptyConfig(),
    interfaces: [{ id: 'g', role: 'guest' as const, name: 'eth1' }, { id: 'p', role: 'public' as const, name: 'eth2', gateway: '203.0.113.1' }],
    publicIps: [{ id: 'ip', ip: '203.0.113.12', prefixLength: 24, interface: 'p', sourceNat: true }],
    guestNetworks: [{ id: 'n', interface: 'g', cidr: '10.1.0.0/16', routerIp: '10.1.0.1' }],
    portForwards: Array.from({ length: n }, (_, i) => ({ id: `pf${i}`, publicIp: '203.0.113.12', protocol: 'tcp' as const, publicPorts: { start: 10000 + i }, privateIp: '10.1.1.5', privatePorts: { start: 10000 + i } })) })
it('prof', () => {
  const c = cfg(10000)
  for (let k = 0; k < 3; k++) {
    let t = performance.now(); renderRouter(c, facts); const r = performance.now() - t
    t = performance.now(); validateConfig(c, facts); const v = performance.now() - t
    t = performance.now(); checkConfig(c, facts); const ch = performance.now() - t
    const a = renderRouter(c, facts).tables, b = renderRouter(cfg(10001), facts).tables
    t = performance.now(); planIptables(a, b); const p = performance.now() - t
    console.log({ render: r.toFixed(1), validate: v.toFixed(1), check: ch.toFixed(1), plan: p.toFixed(1) })
  }
})

import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { renderFiles, renderRouter } from '../../../src/router/render/index.ts'
import { validateConfig } from '../../../src/router/model/parse.ts'
import type { RoleName } from '../../../src/router/model/roles.ts'
import { checkRestoreConsistency } from './consistency.ts'

const root = new URL('../../golden/', import.meta.url)

describe('golden renderings (byte for byte; UPDATE_GOLDEN=1 rewrites after review)', () => {
  for (const scenario of readdirSync(root)) {
    test(`golden/${scenario}`, () => {
      const at = (p: string) => new URL(`${scenario}/${p}`, root)
      const config = JSON.parse(readFileSync(at('config.json'), 'utf8'))
      const facts = JSON.parse(readFileSync(at('facts.json'), 'utf8'))
      // A scenario names its role in role.txt (default router).
      const role = existsSync(at('role.txt')) ? readFileSync(at('role.txt'), 'utf8').trim() as RoleName : 'router'
      const valid = validateConfig(config, facts, role)
      expect(valid.ok, JSON.stringify(valid)).toBe(true)
      const files = renderFiles(renderRouter(valid.ok ? valid.config : config, facts, role))
      if (!existsSync(at('expected/'))) mkdirSync(at('expected/'))
      for (const [file, text] of Object.entries(files)) {
        if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(at(`expected/${file}`), text)
        else expect(text, `${scenario}/${file}: review, then make golden`).toBe(readFileSync(at(`expected/${file}`), 'utf8'))
      }
      expect(checkRestoreConsistency(files['iptables.rules'] as string, files['ipset.restore'] as string)).toEqual([])
    })
  }

  test('rendering is deterministic and independent of input order', () => {
    const config = JSON.parse(readFileSync(new URL('full/config.json', root), 'utf8'))
    const facts = JSON.parse(readFileSync(new URL('full/facts.json', root), 'utf8'))
    const shuffled = Object.fromEntries(Object.entries(config).map(([k, v]) => [k, Array.isArray(v) ? [...v].reverse() : v]))
    expect(renderFiles(renderRouter(shuffled as never, facts))).toEqual(renderFiles(renderRouter(config, facts)))
  })
})

test('a changed copy of an already rendered item renders its own values, not the original memo', () => {
  const facts = { links: [{ name: 'eth1', mac: '02:00:00:00:00:01' }, { name: 'eth2', mac: '02:00:00:00:00:02' }], controlPorts: [] }
  const pf = { id: 'a', publicIp: '203.0.113.12', protocol: 'tcp' as const, publicPorts: { start: 2222 }, privateIp: '10.1.1.5', privatePorts: { start: 22 } }
  const config = (forward: typeof pf) => ({
    interfaces: [{ id: 'g', role: 'guest' as const, name: 'eth1' }, { id: 'p', role: 'public' as const, name: 'eth2' }],
    publicIps: [{ id: 'ip', ip: '203.0.113.12', prefixLength: 24, interface: 'p' }],
    guestNetworks: [{ id: 'n', interface: 'g', cidr: '10.1.1.0/24', routerIp: '10.1.1.1' }],
    staticNats: [], portForwards: [forward], firewallRules: [], egressRules: [], staticRoutes: [], dhcpHosts: [], vmData: [], loadBalancers: [], internalSites: [], ports: [], securityGroups: [], securityGroupRules: [],
  })
  renderRouter(config(pf), facts)
  const text = renderFiles(renderRouter(config({ ...pf, privatePorts: { start: 2200 } }), facts))['iptables.rules']
  expect(text).toContain('--to-destination 10.1.1.5:2200')
  expect(text).not.toContain('10.1.1.5:22\n')
})

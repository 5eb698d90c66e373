import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { describe, expect, it, vi } from 'vitest'
import { checkSecGroups } from '../../../src/router/secgroup/check.ts'
import type { SecGroupDocument, SgPort } from '../../../src/router/secgroup/model.ts'
import { formatIpsets } from '../../../src/router/render/ipset.ts'
import { ebtablesText, iptablesText, nfacctText, renderSecGroups } from '../../../src/router/secgroup/render.ts'

const root = new URL('../../golden-secgroup/', import.meta.url)

describe('security-group rendering (byte for byte; UPDATE_GOLDEN=1 rewrites after review)', () => {
  for (const scenario of readdirSync(root)) {
    it(`golden-secgroup/${scenario}`, () => {
      const at = (p: string) => new URL(`${scenario}/${p}`, root)
      const doc = JSON.parse(readFileSync(at('document.json'), 'utf8')) as SecGroupDocument
      expect(checkSecGroups(doc)).toEqual([])
      const r = renderSecGroups(doc)
      const files: Record<string, string> = {
        'ipv4.rules': iptablesText(r.ipv4), 'ipv6.rules': iptablesText(r.ipv6), 'ipset.restore': formatIpsets(r.sets), 'ebtables.rules': ebtablesText(r.ebtables),
        'nfacct.restore': nfacctText(r.counters),
        'raw.rules': iptablesText(r.raw, 'raw'),
        'hooks.json': `${JSON.stringify(r.hooks, null, 2)}\n`,
      }
      if (!existsSync(at('expected/'))) mkdirSync(at('expected/'))
      for (const [file, text] of Object.entries(files)) {
        if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(at(`expected/${file}`), text)
        else expect(text, `${scenario}/${file}`).toBe(readFileSync(at(`expected/${file}`), 'utf8'))
      }
    })
  }

  it('an edit rendered after the last rendering gives what a first rendering of the same document gives (200 edits in a row)', async () => {
    const doc = JSON.parse(readFileSync(new URL('basic/document.json', root), 'utf8')) as SecGroupDocument
    let seed = 11
    const next = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
    const groups = doc.securityGroups.map((g) => g.id)
    const spare = { ...(doc.ports[0] as SgPort), id: 'p-spare', device: 'vnet-spare', mac: '52:54:00:99:00:01', ipv4: ['10.99.0.1'], ipv6: [] }
    let current: SecGroupDocument = doc
    for (let i = 0; i < 200; i++) {
      const ports = [...current.ports]
      const rules = [...current.securityGroupRules]
      const at = next(ports.length)
      const edit = next(6)
      // Items are replaced, never changed: each edit makes new objects, as the engine does.
      if (edit === 0) ports[at] = { ...(ports[at] as SgPort), groups: [...new Set([...(ports[at] as SgPort).groups, groups[next(groups.length)] as string])] }
      else if (edit === 1) { const g = (ports[at] as SgPort).groups; const out = next(g.length); ports[at] = { ...(ports[at] as SgPort), groups: g.length > 1 ? g.filter((_, k) => k !== out) : g } }
      else if (edit === 2) ports[at] = { ...(ports[at] as SgPort), device: `vnet${next(40)}x${i}` }
      else if (edit === 3) { if (ports.some((p) => p.id === spare.id)) ports.splice(ports.findIndex((p) => p.id === spare.id), 1); else ports.push({ ...spare, groups: [groups[next(groups.length)] as string] }) }
      else if (edit === 4) {
        const peer = next(2) === 0 ? { remoteGroup: groups[next(groups.length)] as string } : { cidrs: ['10.0.0.0/8', '2001:db8::/32'] }
        rules.push({ id: `r-new-${i}`, group: groups[next(groups.length)] as string, direction: 'ingress', protocol: 'tcp', ports: { start: 1000 + i }, ...peer })
      }
      else if (rules.length > 0) rules.splice(next(rules.length), 1)
      current = { ...current, ports, securityGroupRules: rules }
      const incremental = renderSecGroups(current)
      // A fresh copy of the module: nothing remembered from any rendering before.
      vi.resetModules()
      const first = (await import('../../../src/router/secgroup/render.ts')).renderSecGroups(structuredClone(current))
      expect(incremental, `edit ${i}`).toEqual(first)
    }
  })

  it('is the same whatever the order of the items', () => {
    const doc = JSON.parse(readFileSync(new URL('basic/document.json', root), 'utf8')) as SecGroupDocument
    const reversed = { ports: [...doc.ports].reverse(), securityGroups: [...doc.securityGroups].reverse(), securityGroupRules: [...doc.securityGroupRules].reverse() }
    expect(renderSecGroups(reversed)).toEqual(renderSecGroups(doc))
  })
})

describe('security-group checks', () => {
  const base = (): SecGroupDocument => ({
    ports: [{ id: 'p1', device: 'vnet1', mac: '52:54:00:00:00:01', ipv4: ['10.0.0.1'], groups: ['g'] }],
    securityGroups: [{ id: 'g' }],
    securityGroupRules: [],
  })

  it('lists every problem with its path and code', () => {
    const doc = base()
    doc.ports.push({ id: 'p1', device: 'vnet1', mac: '52:54:00:00:00:02', ipv4: [], groups: ['nope'] })
    doc.securityGroupRules = [
      { id: 'r1', group: 'x', direction: 'ingress', protocol: 'icmp', ports: { start: 80 }, cidrs: ['2001:db8::/32'] },
      { id: 'r2', group: 'g', direction: 'egress', protocol: 'tcp', icmpCode: 3, remoteGroup: 'g', cidrs: ['10.0.0.1/8'] },
      { id: 'r3', group: 'g', direction: 'ingress', protocol: 'udp', ports: { start: 90, end: 80 }, remoteGroup: 'gone' },
    ]
    expect(checkSecGroups(doc).map((d) => `${d.path} ${d.code}`)).toEqual([
      '/ports/1/id ERR_DUPLICATE_ID',
      '/ports/1/device ERR_DEVICE_CLAIMED',
      '/ports/1/groups/0 ERR_UNKNOWN_GROUP',
      '/securityGroupRules/0/group ERR_UNKNOWN_GROUP',
      '/securityGroupRules/0/ports ERR_RULE_MATCH',
      '/securityGroupRules/0/cidrs ERR_RULE_FAMILY',
      '/securityGroupRules/1 ERR_RULE_PEER',
      '/securityGroupRules/1 ERR_RULE_MATCH',
      '/securityGroupRules/1/icmpCode ERR_RULE_MATCH',
      '/securityGroupRules/1/cidrs/0 ERR_BAD_CIDR',
      '/securityGroupRules/2/remoteGroup ERR_UNKNOWN_GROUP',
      '/securityGroupRules/2/ports/end ERR_BAD_PORT_RANGE',
    ])
  })

  it('a bridge and its zone come together, one to one', () => {
    const doc = base()
    const port = (id: string, device: string, extra: object) => ({ id, device, mac: '52:54:00:00:00:09', ipv4: [], groups: [], ...extra })
    doc.ports.push(
      port('a', 'vnet2', { bridge: 'br1', zone: 1 }), port('b', 'vnet3', { bridge: 'br1', zone: 2 }), port('c', 'vnet4', { bridge: 'br2', zone: 1 }),
      port('d', 'vnet5', { zone: 3 }), port('e', 'vnet6', { bridge: 'br3' }), port('f', 'vnet7', { bridge: 'br2', zone: 4 }),
    )
    expect(checkSecGroups(doc).map((d) => `${d.path} ${d.code}`)).toEqual([
      '/ports/2/zone ERR_ZONE_CONFLICT', '/ports/3/zone ERR_ZONE_CONFLICT', '/ports/4/zone ERR_ZONE_BRIDGE', '/ports/5/bridge ERR_ZONE_BRIDGE',
    ])
  })

  it('schema problems come first, with their paths', () => {
    expect(checkSecGroups({ ports: [{ id: 'p', device: 'a b', mac: 'zz', ipv4: ['x'], groups: [] }], securityGroups: [], securityGroupRules: [] })
      .map((d) => d.path)).toEqual(['/ports/0/device', '/ports/0/mac', '/ports/0/ipv4/0'])
  })
})

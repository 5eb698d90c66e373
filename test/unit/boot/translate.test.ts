import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parseBootLine } from '../../../src/boot/cmdline.ts'
import { ROUTERD_DEFAULTS, STORAGED_DEFAULTS } from '../../../src/boot/defaults.ts'
import { prefixOfMask } from '../../../src/boot/keys.ts'
import { translateBootLine } from '../../../src/boot/translate.ts'
import { schemaDiagnostics } from '../../../src/core/schema.ts'
import { RouterdConfig } from '../../../src/router/daemon-config.ts'
import { validateConfig } from '../../../src/router/model/parse.ts'
import { StoragedConfig } from '../../../src/storage/daemon-config.ts'

const root = new URL('../../golden-boot/', import.meta.url)
const line = (scenario: string) => readFileSync(new URL(`${scenario}/cmdline`, root), 'utf8')
const good = readdirSync(root).filter((s) => translateBootLine(parseBootLine(line(s))).problems.length === 0)

describe('translateBootLine', () => {
  it('has a golden case for each role that translates without problems', () => {
    expect(good.sort()).toEqual(['dhcpsrvr', 'router', 'secstorage', 'secstorage-routed'])
  })

  for (const scenario of good) {
    it(`${scenario}: its configs pass the daemons' own schemas and its document routerd's checks`, () => {
      const plan = translateBootLine(parseBootLine(line(scenario)))
      const routerd = plan.routerd!
      expect(schemaDiagnostics(RouterdConfig, routerd.daemonConfig)).toEqual([])
      const valid = validateConfig(routerd.initialDocument, undefined, routerd.daemonConfig.role)
      expect(valid.ok, JSON.stringify(valid)).toBe(true)
      if (plan.storaged !== undefined) expect(schemaDiagnostics(StoragedConfig, plan.storaged.daemonConfig)).toEqual([])
      expect(plan.storaged !== undefined).toBe(scenario.startsWith('secstorage'))
    })
  }

  it('a line with problems yields no config at all, only the problems', () => {
    for (const scenario of readdirSync(root).filter((s) => !good.includes(s))) {
      const plan = translateBootLine(parseBootLine(line(scenario)))
      expect(plan.problems.length, scenario).toBeGreaterThan(0)
      expect(Object.keys(plan).filter((k) => k !== 'type' && k !== 'problems'), scenario).toEqual([])
    }
  })

  it('names every bad key of a line, not only the first', () => {
    const plan = translateBootLine(parseBootLine('type=dhcpsrvr eth0ip=10.1.1.2 eth1mask=255.255.0.0'))
    expect(plan.problems.map((p) => `${p.code} ${p.key}`)).toEqual([
      'ERR_BOOT_KEY_MISSING name', 'ERR_BOOT_KEY_MISSING eth0mask', 'ERR_BOOT_KEY_MISSING eth1ip', 'ERR_BOOT_KEY_MISSING gateway',
    ])
  })

  it('refuses consoleproxy and unknown types by the type key', () => {
    for (const type of ['consoleproxy', 'elasticlb']) {
      expect(translateBootLine(parseBootLine(`type=${type}`)).problems.map((p) => `${p.code} ${p.key}`)).toEqual(['ERR_BOOT_ROLE type'])
    }
  })

  it("treats the management server's literal null as absent", () => {
    const plan = translateBootLine(parseBootLine(line('secstorage').replace('dns1=192.0.2.53', 'dns1=null')))
    expect(plan.problems).toEqual([])
    expect(plan.host?.resolvers).toEqual(['10.0.0.2'])
  })

  it('checks the management server by name when host is a name, and the first of several', () => {
    const plan = translateBootLine(parseBootLine(line('secstorage').replace('host=10.0.0.20', 'host=ms1.cloud.example,10.0.0.21')))
    expect(plan.storaged?.daemonConfig.checks).toEqual({ managementAddress: { host: 'ms1.cloud.example', port: 8250 }, dnsName: 'ms1.cloud.example' })
  })

  it('matches interfaces by MAC when nic_macs gives them, else by name', () => {
    const doc = translateBootLine(parseBootLine(line('dhcpsrvr'))).routerd!.initialDocument
    expect(doc.interfaces?.map((i) => i.mac ?? i.name)).toEqual(['0e:00:a9:fe:01:4d', '1e:00:a1:00:00:0b'])
  })
})

describe('prefixOfMask', () => {
  const cases: [string, number | undefined][] = [['255.255.255.0', 24], ['255.255.0.0', 16], ['255.255.255.254', 31], ['0.0.0.0', 0], ['255.0.255.0', undefined], ['255.255.255.1', undefined], ['24', undefined]]
  for (const [mask, prefix] of cases) it(`${mask} → ${String(prefix)}`, () => expect(prefixOfMask(mask)).toBe(prefix))
})

describe('defaults', () => {
  it("are appliance/routerd.json's and appliance/storaged.json's, but the listen host the boot line gives", () => {
    const file = (name: string) => JSON.parse(readFileSync(new URL(`../../../appliance/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>
    const { listen: rl, ...routerd } = file('routerd.json')
    const { listen: sl, ...storaged } = file('storaged.json')
    expect(ROUTERD_DEFAULTS).toEqual(routerd)
    expect(STORAGED_DEFAULTS).toEqual(storaged)
    expect([(rl as { port: number }).port, (sl as { port: number }).port]).toEqual([8443, 8444])
  })
})

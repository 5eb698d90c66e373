import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parseBootLine } from '../../../src/boot/cmdline.ts'
import { bootFiles, hostRoutesBatch } from '../../../src/boot/files.ts'
import { translateBootLine } from '../../../src/boot/translate.ts'
import { RouterdConfig } from '../../../src/router/daemon-config.ts'
import { schemaDiagnostics } from '../../../src/core/schema.ts'

const plan = (scenario: string) => translateBootLine(parseBootLine(readFileSync(new URL(`../../golden-boot/${scenario}/cmdline`, import.meta.url), 'utf8')))
const PATHS = { etc: '/x/etc', run: '/x/run', root: '/x/root' }
const byPath = (scenario: string) => new Map(bootFiles(plan(scenario), PATHS).map((f) => [f.path, f]))

describe('bootFiles (what systemvm-boot writes)', () => {
  it('router: host files, sshd on the control address only, routerd\'s config pointing at its first document, the marker', () => {
    const files = byPath('router')
    expect([...files.keys()].sort()).toEqual([
      '/x/etc/hostname', '/x/etc/hosts', '/x/etc/resolv.conf', '/x/etc/ssh/sshd_config.d/systemvm.conf',
      '/x/etc/systemvm/routerd-initial.json', '/x/etc/systemvm/routerd.json', '/x/root/.ssh/authorized_keys',
      '/x/run/systemvm/ip6tables.rules', '/x/run/systemvm/routerd.enabled',
    ])
    expect(files.get('/x/etc/hostname')?.content).toBe('r-4-VM\n')
    expect(files.get('/x/etc/resolv.conf')?.content).toBe('nameserver 192.0.2.53\nnameserver 192.0.2.54\n')
    expect(files.get('/x/etc/ssh/sshd_config.d/systemvm.conf')?.content).toMatch(/^Port 3922\nListenAddress 169\.254\.3\.14\n/)
    expect(files.get('/x/root/.ssh/authorized_keys')).toMatchObject({ content: 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 root@ms\n', mode: 0o600 })
    const daemon = JSON.parse(files.get('/x/etc/systemvm/routerd.json')?.content ?? '') as Record<string, unknown>
    expect(daemon).toMatchObject({ role: 'router', initialConfigFile: '/x/etc/systemvm/routerd-initial.json', listen: { host: '169.254.3.14', port: 8443 } })
    expect(schemaDiagnostics(RouterdConfig, daemon)).toEqual([])
    expect(JSON.parse(files.get('/x/etc/systemvm/routerd-initial.json')?.content ?? '')).toEqual(plan('router').routerd?.initialDocument)
    expect(files.get('/x/run/systemvm/ip6tables.rules')?.content).toBe(
      '*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -i eth1 -j ACCEPT\nCOMMIT\n')
    expect(hostRoutesBatch(plan('router'))).toBe('')
  })

  it('secstorage: storaged\'s config and marker, and routerd in role hostnet with storaged\'s port among its control ports; the image sets no link or route', () => {
    const files = byPath('secstorage')
    expect(files.has('/x/etc/systemvm/storaged.json')).toBe(true)
    expect(files.get('/x/run/systemvm/storaged.enabled')?.content).toBe('secstorage\n')
    expect(files.get('/x/run/systemvm/routerd.enabled')?.content).toBe('hostnet\n')
    const daemon = JSON.parse(files.get('/x/etc/systemvm/routerd.json')?.content ?? '') as Record<string, unknown>
    expect(daemon).toMatchObject({ role: 'hostnet', controlPorts: [3922, 8444], listen: { host: '169.254.2.9', port: 8443 } })
    expect(schemaDiagnostics(RouterdConfig, daemon)).toEqual([])
    expect(hostRoutesBatch(plan('secstorage'))).toBe('')
  })

  it('dhcpsrvr: its default route through the shared network\'s gateway is the image\'s (no document of its role holds one)', () => {
    expect(hostRoutesBatch(plan('dhcpsrvr'))).toMatch(/^link set dev eth0 up\naddress replace \S+ dev eth0\nroute replace default via \S+ dev eth0\n$/)
  })

  it('a line with problems writes nothing', () => {
    expect(bootFiles(plan('router-bad-keys'), PATHS)).toEqual([])
    expect(hostRoutesBatch(plan('router-bad-keys'))).toBe('')
  })
})

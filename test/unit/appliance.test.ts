import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { loadRouterdConfig } from '../../src/router/daemon-config.ts'
import { loadStoragedConfig } from '../../src/storage/daemon-config.ts'
import { checkoutRoot } from '../../src/lab/checkout.ts'
import { daemonArgv, readDaemonCommand } from '../../src/lab/daemon-command.ts'

const appliance = new URL('../../appliance/', import.meta.url)

describe('appliance files', () => {
  // The lab reads the unit through src/lab/unit-file.ts; checked here against a plain reading of
  // this unit (no quoting, one Environment= assignment per line), so a parser mistake shows.
  const text = readFileSync(new URL('routerd.service', appliance), 'utf8')

  it('the lab runs routerd with the node flags, bundle and arguments of the unit', () => {
    const exec = (/^ExecStart=(.*)$/m.exec(text)?.[1] ?? '').split(/\s+/)
    const scriptAt = exec.findIndex((arg, i) => i > 0 && !arg.startsWith('-'))
    const cmd = readDaemonCommand('routerd')
    expect(cmd.nodeArgs).toEqual(exec.slice(1, scriptAt))
    expect(exec[scriptAt]).toBe('/opt/systemvm/dist/routerd.mjs')
    expect(cmd.script).toBe(`${checkoutRoot()}/dist/routerd.mjs`)
    expect(daemonArgv(cmd, '/tmp/lab.json')).toEqual([...exec.slice(1, scriptAt), cmd.script, '--config', '/tmp/lab.json'])
  })

  it('the lab runs routerd with the environment of the unit', () => {
    const env = Object.fromEntries([...text.matchAll(/^Environment=([^=\s]+)=(\S*)$/gm)].map((m) => [m[1], m[2]]))
    expect(Object.keys(env).length).toBeGreaterThan(0)
    expect(readDaemonCommand('routerd').env).toEqual(env)
  })

  it('the default daemon config is valid', () => {
    expect(loadRouterdConfig(new URL('routerd.json', appliance).pathname).listen).toEqual({ host: '169.254.0.10', port: 8443 })
  })

  it('storaged runs its own bundle and its default config is valid', () => {
    const cmd = readDaemonCommand('storaged')
    expect(cmd.script).toBe(`${checkoutRoot()}/dist/storaged.mjs`)
    expect(loadStoragedConfig(new URL('storaged.json', appliance).pathname).listen).toEqual({ host: '169.254.0.10', port: 8444 })
  })
})

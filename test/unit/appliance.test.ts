import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { loadRouterdConfig } from '../../src/router/daemon-config.ts'
import { ROUTERD_ENV, ROUTERD_NODE_FLAGS } from '../../src/lab/routerd-command.ts'

const appliance = new URL('../../appliance/', import.meta.url)

describe('appliance files', () => {
  it('the unit starts the bundle with the node flags the lab tests it with', () => {
    const exec = /^ExecStart=(.*)$/m.exec(readFileSync(new URL('routerd.service', appliance), 'utf8'))?.[1] ?? ''
    const argv = exec.split(/\s+/)
    expect(argv.slice(1, 1 + ROUTERD_NODE_FLAGS.length)).toEqual([...ROUTERD_NODE_FLAGS])
    expect(argv[1 + ROUTERD_NODE_FLAGS.length]).toMatch(/\/dist\/routerd\.mjs$/)
  })

  it('the unit sets the environment the lab tests it with', () => {
    const unit = readFileSync(new URL('routerd.service', appliance), 'utf8')
    const env = Object.fromEntries([...unit.matchAll(/^Environment=([^=\s]+)=(\S*)$/gm)].map((m) => [m[1], m[2]]))
    expect(env).toEqual(ROUTERD_ENV)
  })

  it('the default daemon config is valid', () => {
    expect(loadRouterdConfig(new URL('routerd.json', appliance).pathname).listen).toEqual({ host: '169.254.0.10', port: 8443 })
  })
})

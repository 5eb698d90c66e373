import { describe, expect, it } from 'vitest'
import { errorCode } from '../../../src/core/errors.ts'
import { daemonArgv, daemonCommandFromUnit, describeDaemonCommand } from '../../../src/lab/daemon-command.ts'

const unit = (execStart: string, ...more: string[]) => ['[Service]', ...more, `ExecStart=${execStart}`].join('\n')
const fromUnit = (text: string) => daemonCommandFromUnit('storaged', '/co/appliance/storaged.service', text, '/co')

describe('daemon-command: a unit turned into the command the lab runs', () => {
  it('node flags, the bundle mapped from /opt/systemvm into the checkout, the arguments, Environment=', () => {
    const cmd = fromUnit(unit('/usr/bin/node --a=1 --b /opt/systemvm/dist/storaged.mjs --config /etc/systemvm/storaged.json --x', 'Environment=K=v'))
    expect(cmd).toEqual({
      name: 'storaged', unitFile: '/co/appliance/storaged.service', nodeArgs: ['--a=1', '--b'],
      script: '/co/dist/storaged.mjs', args: ['--config', '/etc/systemvm/storaged.json', '--x'], env: { K: 'v' },
    })
    expect(daemonArgv(cmd, '/tmp/s.json', ['--cpu-prof'])).toEqual(['--a=1', '--b', '--cpu-prof', '/co/dist/storaged.mjs', '--config', '/tmp/s.json', '--x'])
    expect(describeDaemonCommand(cmd, '/co')).toBe('appliance/storaged.service: K=v node --a=1 --b dist/storaged.mjs')
  })

  it('--config=FILE is replaced in place too', () => {
    expect(daemonArgv(fromUnit(unit('/usr/bin/node /opt/systemvm/dist/s.mjs --config=/etc/s.json')), '/tmp/s.json')).toEqual(['/co/dist/s.mjs', '--config=/tmp/s.json'])
  })

  const refused = [
    { name: 'a unit that does not run node', text: unit('/usr/bin/python3 /opt/systemvm/x.py --config /etc/x') },
    { name: 'a script outside /opt/systemvm (the lab could not find it in the checkout)', text: unit('/usr/bin/node /usr/lib/x.mjs --config /etc/x') },
    { name: 'no --config (the lab must give its own)', text: unit('/usr/bin/node /opt/systemvm/dist/x.mjs') },
  ]
  for (const c of refused) {
    it(`refuses ${c.name}`, () => {
      let err: unknown
      try { fromUnit(c.text) } catch (e) { err = e }
      expect(errorCode(err)).toBe('ERR_UNIT_UNSUPPORTED')
    })
  }
})

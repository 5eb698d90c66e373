import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../../src/core/log.ts'

describe('createLogger', () => {
  it('names the daemon in every line and never writes a secret', () => {
    const lines: string[] = []
    const destination = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done() } })
    const log = createLogger('routerd', { destination, level: 'debug' }).child({ component: 'test' })
    log.info({ password: 'pw-1', body: { password: 'pw-2' }, entry: { password: 'pw-3' }, token: 'sek-token', headers: { authorization: 'Bearer sek-bearer' }, tls: { key: 'PEM' } }, 'event')
    expect(lines).toHaveLength(1)
    const line = lines[0]!
    expect(JSON.parse(line)).toMatchObject({ daemon: 'routerd', component: 'test', msg: 'event', password: '[redacted]' })
    for (const secret of ['pw-1', 'pw-2', 'pw-3', 'sek-token', 'sek-bearer', 'PEM']) expect(line).not.toContain(secret)
  })
})

import { readdirSync, readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { binary, run } from '../../src/core/exec.ts'

const root = process.getuid?.() === 0
const golden = new URL('../golden/', import.meta.url)
const ns = `svmgold${process.pid}`

/** Every golden rule set is accepted by the real iptables-restore and ipset (not only by our eyes). */
describe.skipIf(!root)('golden files load into the real kernel', () => {
  beforeAll(async () => { await run(binary('ip'), ['netns', 'add', ns]) })
  afterAll(async () => { await run(binary('ip'), ['netns', 'del', ns], { okCodes: [0, 1] }) })

  for (const scenario of readdirSync(golden)) {
    it(`golden/${scenario}`, async () => {
      const sets = readFileSync(new URL(`${scenario}/expected/ipset.restore`, golden), 'utf8')
      const rules = readFileSync(new URL(`${scenario}/expected/iptables.rules`, golden), 'utf8')
      await run(binary('ipset'), ['restore', '-exist'], { netns: ns, stdin: sets })
      await run(binary('iptables-restore'), [], { netns: ns, stdin: rules })
      const saved = (await run(binary('iptables-save'), [], { netns: ns })).stdout
      const ownRules = (text: string) => text.split('\n').filter((l) => l.startsWith('-A ')).length
      expect(ownRules(saved)).toBe(ownRules(rules))
      await run(binary('iptables-restore'), [], { netns: ns, stdin: '*raw\nCOMMIT\n*mangle\nCOMMIT\n*nat\nCOMMIT\n*filter\nCOMMIT\n' })
      await run(binary('ipset'), ['destroy'], { netns: ns })
    })
  }
})

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseBootLine } from '../../../src/boot/cmdline.ts'
import { readBootLine } from '../../../src/boot/shell/read.ts'

describe('parseBootLine', () => {
  const cases: { name: string; line: string; expected: [string, string][] }[] = [
    { name: 'space-separated key=value words, in order', line: 'type=router name=r-4-VM', expected: [['type', 'router'], ['name', 'r-4-VM']] },
    { name: 'a value keeps every = after the first (base64 padding survives)', line: 'authorized_key=c3No== x=a=b', expected: [['authorized_key', 'c3No=='], ['x', 'a=b']] },
    { name: 'a repeated key: the last value wins, at the first position', line: 'a=1 b=2 a=3', expected: [['a', '3'], ['b', '2']] },
    { name: 'a word without = is present with an empty value', line: 'ro quiet type=router', expected: [['ro', ''], ['quiet', ''], ['type', 'router']] },
    { name: 'an empty value stays empty', line: 'dns2=', expected: [['dns2', '']] },
    { name: 'a word with an empty key is dropped', line: '=x type=router', expected: [['type', 'router']] },
    { name: 'tabs, runs of spaces, leading space and the trailing newline separate words', line: '  a=1\t\tb=2   c=3\n', expected: [['a', '1'], ['b', '2'], ['c', '3']] },
    { name: 'an empty line has no keys', line: '\n', expected: [] },
  ]
  for (const c of cases) it(c.name, () => expect([...parseBootLine(c.line)]).toEqual(c.expected))
})

describe('readBootLine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bootline-'))
  const cache = join(dir, 'cmdline')
  const proc = join(dir, 'proc-cmdline')
  writeFileSync(proc, 'BOOT_IMAGE=/vmlinuz type=dhcpsrvr\n')

  it('falls back to /proc/cmdline when the cache file does not exist', () => {
    expect(readBootLine({ cache, proc })).toEqual({ path: proc, text: 'BOOT_IMAGE=/vmlinuz type=dhcpsrvr\n' })
  })
  it('falls back when the cache file holds only whitespace', () => {
    writeFileSync(cache, '\n')
    expect(readBootLine({ cache, proc }).path).toBe(proc)
  })
  it("prefers the cache file (qemu-guest-agent's copy of the management server's line)", () => {
    writeFileSync(cache, 'type=router\n')
    expect(readBootLine({ cache, proc })).toEqual({ path: cache, text: 'type=router\n' })
  })
  it('throws when neither can be read', () => {
    expect(() => readBootLine({ cache: join(dir, 'none'), proc: join(dir, 'none2') })).toThrow(/ENOENT/)
  })
})

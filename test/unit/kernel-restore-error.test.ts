import { describe, expect, it } from 'vitest'
import { restoreError } from '../../src/router/kernel/restore-error.ts'

describe('restoreError', () => {
  const payload = ['*nat', ':A - [0:0]', '-A A -j RETURN', '-A A -p tcp --dport 99999 -j RETURN', 'COMMIT', ''].join('\n')
  it.each([
    ['iptables-restore', "iptables-restore v1.8.9 (nf_tables): invalid port/service `99999' specified\nError occurred at line: 4\nTry `iptables-restore -h'", 4],
    ['ipset', 'ipset v7.17: Error in line 4: Set cannot be created', 4],
    ['ip -batch', 'Error: Nexthop has invalid gateway.\nCommand failed -:4', 4],
  ])('%s: names the failing line with context and keeps the payload', (tool, stderr, line) => {
    const err = restoreError(tool, payload, stderr)
    expect(err.code).toBe('ERR_KERNEL_REJECTED')
    expect(err.line).toBe(line)
    expect(err.lineText).toBe('-A A -p tcp --dport 99999 -j RETURN')
    expect(err.context).toEqual(['*nat', ':A - [0:0]', '-A A -j RETURN', '-A A -p tcp --dport 99999 -j RETURN', 'COMMIT', ''])
    expect(err.payload).toBe(payload)
    expect(Object.keys(err)).not.toContain('payload')
  })
})

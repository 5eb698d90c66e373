import { describe, expect, it } from 'vitest'
import { CommandFailedError, CommandTimeoutError, type RestoreRejectedError } from '../../../src/core/errors.ts'
import type { Runner } from '../../../src/core/exec.ts'
import { restoreError, runBatch } from '../../../src/router/kernel/restore.ts'

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

describe('runBatch', () => {
  const failing = (err: Error): Runner & { calls: unknown[] } => {
    const calls: unknown[] = []
    return { netns: undefined, calls, run: async (file, args, options) => { calls.push({ file, args, options }); throw err } }
  }

  it('runs the tool once with the payload on stdin, and names a rejected line under the batch name', async () => {
    const runner = failing(new CommandFailedError('ip', ['-batch', '-'], 1, 'Error: Nexthop has invalid gateway.\nCommand failed -:2'))
    const err = (await runBatch(runner, 'ip', ['-batch', '-'], 'route a\nroute b\n', { timeoutMs: 5, tool: 'ip -batch' }).catch((e: unknown) => e)) as RestoreRejectedError
    expect(runner.calls).toEqual([{ file: 'ip', args: ['-batch', '-'], options: { stdin: 'route a\nroute b\n', timeoutMs: 5, batch: true } }])
    expect([err.code, err.tool, err.line, err.lineText]).toEqual(['ERR_KERNEL_REJECTED', 'ip -batch', 2, 'route b'])
  })

  it('passes on what is not a rejection (a timeout) as it is', async () => {
    const timeout = new CommandTimeoutError('ipset', 5)
    await expect(runBatch(failing(timeout), 'ipset', ['restore'], 'x\n', { timeoutMs: 5 })).rejects.toBe(timeout)
  })
})

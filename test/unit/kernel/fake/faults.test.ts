import { describe, expect, it } from 'vitest'
import { errorCode } from '../../../../src/core/errors.ts'
import { FakeKernel } from '../../../../src/router/kernel/fake/index.ts'
import { restoreError } from '../../../../src/router/kernel/restore.ts'

/** Failure injection and the runner contract of the fake kernel (what the engine relies on). */

const ALL_CODES = { okCodes: Array.from({ length: 256 }, (_, i) => i) }
const links = [{ name: 'eth1', mac: '02:5e:00:00:00:02' }]

describe('fake kernel: runner contract', () => {
  it('a failing call rejects with the CommandFailedError exec.ts throws (absolute path, argv, exit code, stderr); okCodes are honoured', async () => {
    const kernel = new FakeKernel({ links })
    const err = await kernel.run('ipset', ['destroy', 'nope']).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_COMMAND_FAILED', file: '/usr/sbin/ipset', args: ['destroy', 'nope'], exitCode: 1, stderr: 'ipset v7.17: The set with the given name does not exist\n' })
    await expect(kernel.run('conntrack', ['-D', '--orig-dst', '192.0.2.1'], { okCodes: [0, 1] })).resolves.toMatchObject({ exitCode: 1 })
    expect(kernel.calls.map((c) => [c.tool, c.exitCode])).toEqual([['ipset', 1], ['conntrack', 1]])
  })

  it('state() is a copy: changing it changes nothing in the kernel', async () => {
    const kernel = new FakeKernel({ links })
    await kernel.run('ipset', ['restore'], { stdin: 'create svm-a hash:net family inet hashsize 1024 maxelem 65536\nadd svm-a 10.0.0.0/8\n' })
    const state = kernel.state()
    state.ipsets['svm-a']?.members.push('192.0.2.0/24')
    state.links.pop()
    expect(kernel.state().ipsets['svm-a']?.members).toEqual(['10.0.0.0/8'])
    expect(kernel.state().links.map((l) => l.name)).toEqual(['lo', 'eth1'])
  })

  it('an ipset named by an iptables rule cannot be destroyed until no rule names it', async () => {
    const kernel = new FakeKernel({ links })
    await kernel.run('ipset', ['create', 'svm-a', 'hash:net'])
    const rules = (extra: string) => `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:SVM-X - [0:0]\n${extra}COMMIT\n`
    await kernel.run('iptables-restore', ['-w', '5'], { stdin: rules('-A SVM-X -m set --match-set svm-a src -j ACCEPT\n') })
    expect((await kernel.run('ipset', ['restore'], { stdin: 'destroy svm-a\n', ...ALL_CODES })).stderr)
      .toBe('ipset v7.17: Error in line 1: Set cannot be destroyed: it is in use by a kernel component\n')
    await kernel.run('iptables-restore', ['-w', '5'], { stdin: rules('') })
    await kernel.run('ipset', ['restore'], { stdin: 'destroy svm-a\n' })
    expect(kernel.state().ipsets).toEqual({})
  })

  it('iptables-restore --test parses and refuses like a real restore but commits nothing', async () => {
    const kernel = new FakeKernel({ links })
    await kernel.run('iptables-restore', ['--test'], { stdin: '*nat\n:SVM-A - [0:0]\n-A SVM-A -j RETURN\nCOMMIT\n' })
    expect(kernel.state().iptables).toEqual({})
    const refused = await kernel.run('iptables-restore', ['--test'], { stdin: '*nat\n-A SVM-A -j RETURN\nCOMMIT\n', ...ALL_CODES })
    expect(refused.stderr).toBe('iptables-restore: line 2 failed: No chain/target/match by that name.\n')
  })
})

describe('fake kernel: failure injection', () => {
  it('the nth call of a tool fails as a whole, before doing anything; the others run', async () => {
    const kernel = new FakeKernel({ links })
    const fault = kernel.fail({ tool: 'ipset', call: 2, exitCode: 137, stderr: 'Killed\n' })
    const stdin = (n: string) => `create svm-${n} hash:net family inet hashsize 1024 maxelem 65536\n`
    const answers = await Promise.all(['a', 'b', 'c'].map((n) => kernel.run('ipset', ['restore'], { stdin: stdin(n), ...ALL_CODES })))
    expect(answers.map((a) => [a.exitCode, a.stderr])).toEqual([[0, ''], [137, 'Killed\n'], [0, '']])
    expect(Object.keys(kernel.state().ipsets)).toEqual(['svm-a', 'svm-c'])
    expect(fault.fired).toBe(1)
  })

  it('a predicate picks the call; a regular expression picks the line (even with the g flag, call after call)', async () => {
    const kernel = new FakeKernel({ links })
    const fault = kernel.fail({ tool: 'ipset', when: (c) => c.stdin.includes('svm-b'), line: /svm-b/g, times: 2 })
    for (const n of ['a', 'b', 'b']) {
      await kernel.run('ipset', ['restore'], { stdin: `create svm-${n} hash:net family inet hashsize 1024 maxelem 65536\n`, ...ALL_CODES })
    }
    expect(fault.fired).toBe(2)
    expect(Object.keys(kernel.state().ipsets)).toEqual(['svm-a'])
  })

  it('ip -batch fails at the line with the real shape: the lines before it ran; restoreError names the line', async () => {
    const kernel = new FakeKernel({ links: [{ name: 'eth1', mac: '02:5e:00:00:00:02', up: true }] })
    kernel.fail({ tool: 'ip', line: 2, message: 'No buffer space available' })
    const payload = 'address add 10.1.1.1/24 dev eth1\naddress add 10.1.2.1/24 dev eth1\naddress add 10.1.3.1/24 dev eth1\n'
    const err = await kernel.run('ip', ['-batch', '-'], { stdin: payload }).catch((e: unknown) => e as { stderr: string })
    expect(err.stderr).toBe('RTNETLINK answers: No buffer space available\nCommand failed -:2\n')
    expect(kernel.state().addresses.filter((a) => a.dev === 'eth1').map((a) => a.cidr)).toEqual(['10.1.1.1/24'])
    expect(restoreError('ip -batch', payload, err.stderr)).toMatchObject({ line: 2, lineText: 'address add 10.1.2.1/24 dev eth1' })
  })

  it.each([
    { shape: 'parse' as const, exitCode: 2, line: 6, stderr: 'iptables-restore v1.8.9 (nf_tables): Cannot allocate memory\nError occurred at line: 6\nTry `iptables-restore -h\' or \'iptables-restore --help\' for more information.\n' },
    { shape: 'kernel' as const, exitCode: 4, line: 6, stderr: 'iptables-restore v1.8.9 (nf_tables): \nline 6: RULE_APPEND failed (Cannot allocate memory): rule in chain SVM-B\n' },
  ])('iptables-restore refused in its second table ($shape): the first table committed, the second did not', async ({ shape, exitCode, line, stderr }) => {
    const kernel = new FakeKernel({ links })
    kernel.fail({ tool: 'iptables-restore', line: /^-A SVM-B/, shape })
    const payload = '*raw\n:SVM-A - [0:0]\nCOMMIT\n*nat\n:SVM-B - [0:0]\n-A SVM-B -j RETURN\nCOMMIT\n'
    const err = await kernel.run('iptables-restore', ['-w', '5', '--noflush'], { stdin: payload }).catch((e: unknown) => e as { exitCode: number; stderr: string })
    expect([err.exitCode, err.stderr]).toEqual([exitCode, stderr])
    expect(Object.keys(kernel.state().iptables)).toEqual(['raw'])
    // restore-error.ts reads the line from either shape.
    expect(restoreError('iptables-restore', payload, err.stderr).line).toBe(line)
  })

  it('ipset restore refused by the kernel keeps the lines before it; refused while parsing it also drops the set\'s buffered lines', async () => {
    for (const [shape, members] of [['kernel', ['10.0.0.1', '10.0.0.2']], ['parse', []]] as const) {
      const kernel = new FakeKernel({ links })
      await kernel.run('ipset', ['create', 'svm-a', 'hash:net'])
      kernel.fail({ tool: 'ipset', line: 3, shape })
      await kernel.run('ipset', ['restore'], { stdin: 'add svm-a 10.0.0.1\nadd svm-a 10.0.0.2\nadd svm-a 10.0.0.3\n', ...ALL_CODES })
      expect(kernel.state().ipsets['svm-a']?.members, shape).toEqual(members)
    }
  })

  it('a timeout fault throws ERR_COMMAND_TIMEOUT and changes nothing', async () => {
    const kernel = new FakeKernel({ links })
    kernel.fail({ tool: 'iptables-restore', timeout: true })
    const err = await kernel.run('iptables-restore', [], { stdin: '*nat\nCOMMIT\n', timeoutMs: 5 }).catch((e: unknown) => e)
    expect(errorCode(err)).toBe('ERR_COMMAND_TIMEOUT')
    expect(kernel.state().iptables).toEqual({})
  })
})

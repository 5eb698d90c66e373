import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { FakeKernel } from '../../../../src/router/kernel/fake/index.ts'

/**
 * The fake kernel against the real tools: recorded-transcript.json holds calls made in a
 * throwaway namespace (iptables 1.8.9 nf_tables, ipset 7.17, iproute2 6.1) with their exit
 * codes, stdout and stderr, in order, each call seeing the state the ones before it left.
 * Replayed on a fake with the same links, every call must answer the same. Outputs that vary
 * between runs are normalized on both sides: iptables-save's date lines, ipset's initval and
 * member order (hash order), and
 * in ip -json the veth peers, IPv6 routes, DAD's "tentative" flag and M-DOWN.
 */

interface Step {
  tool: string
  args: string[]
  stdin: string
  compare: 'exact' | 'save' | 'ipset-save' | 'json'
  exitCode: number
  stdout: string
  stderr: string
}
interface Transcript {
  recordedWith: Record<string, string>
  links: { name: string; mac: string; ifindex: number }[]
  steps: (Step | { addLink: { name: string; mac: string; ifindex: number } })[]
}

const transcript = JSON.parse(readFileSync(new URL('./recorded-transcript.json', import.meta.url), 'utf8')) as Transcript

/** ipset save lists members in hash order: sorted within each set on both sides. */
function sortMembers(text: string): string {
  const out: string[] = []
  let adds: string[] = []
  const flush = () => { out.push(...adds.sort()); adds = [] }
  for (const line of text.split('\n')) {
    if (line.startsWith('add ')) adds.push(line)
    else { flush(); out.push(line) }
  }
  flush()
  return out.join('\n')
}

function normalize(compare: Step['compare'], text: string): string {
  if (compare === 'save') return text.replace(/^#.*\n/gm, '')
  if (compare === 'ipset-save') return sortMembers(text.replace(/ initval 0x[0-9a-f]+/g, ''))
  if (compare === 'json') {
    const list = JSON.parse(text) as Record<string, unknown>[]
    return JSON.stringify(list
      .filter((o) => !String(o['ifname'] ?? '').startsWith('peer') && !String(o['dev'] ?? '').startsWith('peer'))
      .filter((o) => !String(o['dst'] ?? '').includes(':'))
      .map((o) => {
        const { link: _link, ...rest } = o
        if (Array.isArray(rest['addr_info'])) rest['addr_info'] = (rest['addr_info'] as Record<string, unknown>[]).map(({ tentative: _t, ...a }) => a)
        if (Array.isArray(rest['flags'])) rest['flags'] = (rest['flags'] as string[]).filter((f) => f !== 'M-DOWN')
        return rest
      }))
  }
  return text
}

describe(`fake kernel replays real tool calls (${Object.values(transcript.recordedWith).join('; ')})`, () => {
  it('answers every recorded call with the same exit code, stdout and stderr', async () => {
    const kernel = new FakeKernel({ links: transcript.links })
    const differences: string[] = []
    for (const [i, step] of transcript.steps.entries()) {
      if ('addLink' in step) {
        kernel.addLink(step.addLink)
        continue
      }
      const got = await kernel.run(step.tool, step.args, { stdin: step.stdin, okCodes: Array.from({ length: 256 }, (_, c) => c) })
      const want = { exitCode: step.exitCode, stdout: step.stdout, stderr: step.stderr }
      const have = { exitCode: got.exitCode, stdout: normalize(step.compare, got.stdout), stderr: got.stderr }
      try {
        expect(have).toEqual(want)
      } catch {
        differences.push(`step ${i}: ${step.tool} ${step.args.join(' ')} ${JSON.stringify(step.stdin.slice(0, 120))}\n  want ${JSON.stringify(want)}\n  have ${JSON.stringify(have)}`)
      }
    }
    expect(differences.join('\n')).toBe('')
  })
})

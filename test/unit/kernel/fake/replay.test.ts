import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { FakeKernel } from '../../../../src/router/kernel/fake/index.ts'
import { normalizeOutput } from '../../../../scripts/transcript-normalize.mjs'

/**
 * The fake kernel against the real tools: recorded-transcript.json holds calls made in a
 * throwaway namespace (iptables 1.8.9 nf_tables, ipset 7.17, iproute2 6.1) with their exit
 * codes, stdout and stderr, in order, each call seeing the state the ones before it left.
 * Replayed on a fake with the same links, every call must answer the same. Outputs that vary
 * between runs are normalized on both sides by one function (scripts/transcript-normalize.mjs).
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
      const have = { exitCode: got.exitCode, stdout: normalizeOutput(step.compare, got.stdout), stderr: got.stderr }
      try {
        expect(have).toEqual(want)
      } catch {
        differences.push(`step ${i}: ${step.tool} ${step.args.join(' ')} ${JSON.stringify(step.stdin.slice(0, 120))}\n  want ${JSON.stringify(want)}\n  have ${JSON.stringify(have)}`)
      }
    }
    expect(differences.join('\n')).toBe('')
  })
})

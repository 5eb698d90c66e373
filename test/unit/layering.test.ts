import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

/**
 * The functional core stays pure: src/model, src/render, src/plan, src/dhcp and src/dns import nothing with side
 * effects and never read `process`; only src/kernel/exec.ts spawns processes.
 */
const src = new URL('../../src/', import.meta.url).pathname
const FORBIDDEN = /from '(node:(child_process|fs|net|dgram|http|os)|undici|\.\.\/kernel\/[^']*|\.\.\/\.\.\/kernel\/[^']*)'/

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : []
  })
}

describe('layering', () => {
  it('model, render, plan, dhcp and dns import nothing with side effects and do not touch process', () => {
    const offenders = ['model', 'render', 'plan', 'dhcp', 'dns'].flatMap((d) => files(join(src, d))).filter((f) => {
      const text = readFileSync(f, 'utf8')
      return FORBIDDEN.test(text) || /\bprocess\./.test(text)
    })
    expect(offenders).toEqual([])
  })

  it('only kernel/exec.ts spawns processes', () => {
    const spawning = files(src).filter((f) => /from 'node:child_process'/.test(readFileSync(f, 'utf8')))
    expect(spawning.map((f) => f.slice(src.length))).toEqual(['kernel/exec.ts'])
  })
})

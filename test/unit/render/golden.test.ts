import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { renderFiles, renderRouter } from '../../../src/render/index.ts'
import { validateConfig } from '../../../src/model/parse.ts'
import { checkRestoreConsistency } from './consistency.ts'

const root = new URL('../../golden/', import.meta.url)

describe('golden renderings (byte for byte; UPDATE_GOLDEN=1 rewrites after review)', () => {
  for (const scenario of readdirSync(root)) {
    test(`golden/${scenario}`, () => {
      const at = (p: string) => new URL(`${scenario}/${p}`, root)
      const config = JSON.parse(readFileSync(at('config.json'), 'utf8'))
      const facts = JSON.parse(readFileSync(at('facts.json'), 'utf8'))
      const valid = validateConfig(config, facts)
      expect(valid.ok, JSON.stringify(valid)).toBe(true)
      const files = renderFiles(renderRouter(config, facts))
      if (!existsSync(at('expected/'))) mkdirSync(at('expected/'))
      for (const [file, text] of Object.entries(files)) {
        if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(at(`expected/${file}`), text)
        else expect(text, `${scenario}/${file}: review, then make golden`).toBe(readFileSync(at(`expected/${file}`), 'utf8'))
      }
      expect(checkRestoreConsistency(files['iptables.rules'] as string, files['ipset.restore'] as string)).toEqual([])
    })
  }

  test('rendering is deterministic and independent of input order', () => {
    const config = JSON.parse(readFileSync(new URL('full/config.json', root), 'utf8'))
    const facts = JSON.parse(readFileSync(new URL('full/facts.json', root), 'utf8'))
    const shuffled = Object.fromEntries(Object.entries(config).map(([k, v]) => [k, Array.isArray(v) ? [...v].reverse() : v]))
    expect(renderFiles(renderRouter(shuffled as never, facts))).toEqual(renderFiles(renderRouter(config, facts)))
  })
})

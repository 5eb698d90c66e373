import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { parseBootLine } from '../../../src/boot/cmdline.ts'
import { translateBootLine } from '../../../src/boot/translate.ts'

/**
 * Real-shaped CloudStack boot lines (as the management server builds them for each role) and
 * the translator's whole output, byte for byte. UPDATE_GOLDEN=1 rewrites expected.json after review.
 */
const root = new URL('../../golden-boot/', import.meta.url)

describe('boot line translations (byte for byte; UPDATE_GOLDEN=1 rewrites after review)', () => {
  for (const scenario of readdirSync(root)) {
    test(`golden-boot/${scenario}`, () => {
      const at = (p: string) => new URL(`${scenario}/${p}`, root)
      const text = `${JSON.stringify(translateBootLine(parseBootLine(readFileSync(at('cmdline'), 'utf8'))), null, 2)}\n`
      if (process.env['UPDATE_GOLDEN'] === '1' || !existsSync(at('expected.json'))) writeFileSync(at('expected.json'), text)
      else expect(text, `golden-boot/${scenario}/expected.json: review, then UPDATE_GOLDEN=1`).toBe(readFileSync(at('expected.json'), 'utf8'))
    })
  }
})

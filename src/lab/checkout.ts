import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ApplianceError } from '../core/errors.ts'

/**
 * Where the lab finds the files of the checkout it runs from: the units in appliance/ and the
 * bundles in dist/. The lab's code itself runs from
 * several places (src/lab under vitest, dist/lab after `make build`, build/bench/src/lab for the
 * benchmarks), so the root is found by walking up to the directory that holds appliance/ and
 * package.json rather than by a fixed number of "..".
 */

let root: string | undefined

/** The checkout's root directory (found once). Throws ERR_LAB_CHECKOUT outside a checkout. */
export function checkoutRoot(): string {
  if (root !== undefined) return root
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'appliance')) && existsSync(join(dir, 'package.json'))) return (root = dir)
    if (dirname(dir) === dir) throw new ApplianceError('ERR_LAB_CHECKOUT', `no checkout (a directory with appliance/ and package.json) above ${fileURLToPath(import.meta.url)}`)
  }
}

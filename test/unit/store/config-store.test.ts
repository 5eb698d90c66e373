import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { emptyConfig } from '../../../src/model/config.ts'
import { withItem } from '../../../src/model/items.ts'
import { ConfigStore } from '../../../src/store/config-store.ts'

const dirs: string[] = []
const tempDir = () => { const d = mkdtempSync(join(tmpdir(), 'store-')); dirs.push(d); return d }
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

const route = (id: string) => ({ id, cidr: '172.16.0.0/12', via: '10.0.0.1' })

describe('ConfigStore', () => {
  it('an empty directory loads as generation 0 with an empty config', () => {
    expect(new ConfigStore(tempDir()).load()).toEqual({ generation: 0, config: emptyConfig() })
  })

  it('a snapshot plus journaled item edits replay to the same state', () => {
    const dir = tempDir()
    const store = new ConfigStore(dir)
    let config = emptyConfig()
    store.saveSnapshot({ generation: 3, config })
    for (const [g, id, item] of [[4, 'a', route('a')], [5, 'b', route('b')], [6, 'a', null]] as const) {
      config = withItem(config, 'staticRoutes', id, item)
      store.appendItem(g, 'staticRoutes', id, item, () => ({ generation: g, config }))
    }
    expect(new ConfigStore(dir).load()).toEqual({ generation: 6, config: { ...emptyConfig(), staticRoutes: [route('b')] } })
  })

  it('a torn last journal line (crash mid-append) is ignored; a corrupt middle line is an error', () => {
    const dir = tempDir()
    const store = new ConfigStore(dir)
    store.saveSnapshot({ generation: 1, config: emptyConfig() })
    store.appendItem(2, 'staticRoutes', 'a', route('a'), () => { throw new Error('unused') })
    appendFileSync(join(dir, 'journal.ndjson'), '{"g":3,"c":"staticRo')
    expect(new ConfigStore(dir).load().generation).toBe(2)
    appendFileSync(join(dir, 'journal.ndjson'), '\n{"g":4,"c":"staticRoutes","id":"x","item":null}\n')
    expect(() => new ConfigStore(dir).load()).toThrow(/journal line 2/)
  })

  it('a new snapshot empties the journal', () => {
    const dir = tempDir()
    const store = new ConfigStore(dir)
    store.appendItem(1, 'staticRoutes', 'a', route('a'), () => { throw new Error('unused') })
    store.saveSnapshot({ generation: 7, config: emptyConfig() })
    expect(readFileSync(join(dir, 'journal.ndjson'), 'utf8')).toBe('')
    expect(new ConfigStore(dir).load().generation).toBe(7)
  })
})

describe('ConfigStore.stageSnapshot', () => {
  it('a staged snapshot is not the state until commit; abort leaves the old state', async () => {
    const dir = tempDir()
    const store = new ConfigStore(dir)
    store.saveSnapshot({ generation: 1, config: emptyConfig() })
    const next = { ...emptyConfig(), staticRoutes: [route('a')] }
    const aborted = await store.stageSnapshot({ generation: 2, config: next })
    aborted.abort()
    expect(new ConfigStore(dir).load().generation).toBe(1)
    const staged = await store.stageSnapshot({ generation: 2, config: next })
    expect(new ConfigStore(dir).load().generation).toBe(1)
    staged.commit()
    expect(new ConfigStore(dir).load()).toEqual({ generation: 2, config: next })
  })
})

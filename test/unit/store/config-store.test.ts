import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { emptyConfig } from '../../../src/router/model/config.ts'
import { withItem } from '../../../src/router/model/items.ts'
import { ConfigStore } from '../../../src/router/store/config-store.ts'

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
    writeFileSync(join(dir, 'journal.ndjson'), readFileSync(join(dir, 'journal.ndjson'), 'utf8') + '{"g":3,"c":"staticRo')
    expect(new ConfigStore(dir).load().generation).toBe(2)
    appendFileSync(join(dir, 'journal.ndjson'), '{"g":3,"c":"staticRo\n{"g":4,"c":"staticRoutes","id":"x","item":null}\n')
    expect(() => new ConfigStore(dir).load()).toThrow(/line 2 is not JSON/)
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

describe('ConfigStore: a torn journal tail', () => {
  const torn = '{"g":3,"c":"staticRo'

  function storeWithTornTail(): string {
    const dir = tempDir()
    const store = new ConfigStore(dir)
    store.saveSnapshot({ generation: 1, config: emptyConfig() })
    store.appendItem(2, 'staticRoutes', 'a', route('a'), () => { throw new Error('unused') })
    appendFileSync(join(dir, 'journal.ndjson'), torn)
    return dir
  }

  it('is cut at load, before any append: the next acknowledged edit survives the next load', () => {
    const dir = storeWithTornTail()
    const store = new ConfigStore(dir)
    expect(store.load().generation).toBe(2)
    expect(readFileSync(join(dir, 'journal.ndjson'), 'utf8')).not.toContain(torn)
    store.appendItem(3, 'staticRoutes', 'b', route('b'), () => { throw new Error('unused') })
    expect(new ConfigStore(dir).load()).toEqual({ generation: 3, config: { ...emptyConfig(), staticRoutes: [route('a'), route('b')] } })
  })

  it('two edits after a torn tail both survive and the store still loads', () => {
    const dir = storeWithTornTail()
    const store = new ConfigStore(dir)
    store.load()
    store.appendItem(3, 'staticRoutes', 'b', route('b'), () => { throw new Error('unused') })
    store.appendItem(4, 'staticRoutes', 'a', null, () => { throw new Error('unused') })
    expect(new ConfigStore(dir).load()).toEqual({ generation: 4, config: { ...emptyConfig(), staticRoutes: [route('b')] } })
  })

  it('a complete last line without its newline is cut too (its fsync never returned)', () => {
    const dir = tempDir()
    const store = new ConfigStore(dir)
    store.saveSnapshot({ generation: 1, config: emptyConfig() })
    appendFileSync(join(dir, 'journal.ndjson'), JSON.stringify({ g: 2, c: 'staticRoutes', id: 'a', item: route('a') }))
    const reopened = new ConfigStore(dir)
    expect(reopened.load().generation).toBe(1)
    reopened.appendItem(2, 'staticRoutes', 'b', route('b'), () => { throw new Error('unused') })
    expect(new ConfigStore(dir).load()).toEqual({ generation: 2, config: { ...emptyConfig(), staticRoutes: [route('b')] } })
  })

  it('open() reports the cut tail as a problem', () => {
    const dir = storeWithTornTail()
    const opened = new ConfigStore(dir).open()
    expect(opened.state.generation).toBe(2)
    expect(opened.problems).toEqual([expect.objectContaining({ code: 'ERR_STORE_TORN_TAIL', file: 'journal.ndjson', line: 2 })])
  })
})

describe('ConfigStore: every type or shape error is a StoreError', () => {
  const cases: { name: string; snapshot?: string; journal?: string }[] = [
    { name: 'a journal line that is JSON null', journal: 'null\n' },
    { name: 'a journal line that is a number', journal: '5\n' },
    { name: 'a journal line that is an array', journal: '[1,2]\n' },
    { name: 'a generation that is a string', journal: '{"g":"2","c":"staticRoutes","id":"a","item":null}\n' },
    { name: 'a generation that is not an integer', journal: '{"g":2.5,"c":"staticRoutes","id":"a","item":null}\n' },
    { name: 'an unknown collection', journal: '{"g":2,"c":"nope","id":"a","item":null}\n' },
    { name: 'a collection named like an Object property', journal: '{"g":2,"c":"constructor","id":"a","item":null}\n' },
    { name: 'an id that is not a string', journal: '{"g":2,"c":"staticRoutes","id":5,"item":null}\n' },
    { name: 'an item that is a string', journal: '{"g":2,"c":"staticRoutes","id":"a","item":"x"}\n' },
    { name: 'an item whose id differs from the line\'s', journal: '{"g":2,"c":"staticRoutes","id":"a","item":{"id":"b","cidr":"172.16.0.0/12","via":"10.0.0.1"}}\n' },
    { name: 'a missing item', journal: '{"g":2,"c":"staticRoutes","id":"a"}\n' },
    { name: 'a snapshot that is JSON null', snapshot: 'null' },
    { name: 'a snapshot that is not JSON', snapshot: '{"generation":1,' },
    { name: 'a snapshot generation that is a string', snapshot: '{"generation":"1","config":{}}' },
    { name: 'a snapshot without config', snapshot: '{"generation":1}' },
    { name: 'a snapshot whose config is an array', snapshot: '{"generation":1,"config":[]}' },
    { name: 'a snapshot whose collection is not a list', snapshot: '{"generation":1,"config":{"staticRoutes":5}}' },
    { name: 'a snapshot whose collection holds null', snapshot: '{"generation":1,"config":{"staticRoutes":[null]}}' },
  ]
  for (const c of cases) {
    it(`${c.name} → ERR_STORE_CORRUPT`, () => {
      const dir = tempDir()
      writeFileSync(join(dir, 'config.json'), c.snapshot ?? JSON.stringify({ generation: 1, config: emptyConfig() }))
      // A good line after the bad one: the bad one is damage, not a torn tail.
      writeFileSync(join(dir, 'journal.ndjson'), (c.journal ?? '') + '{"g":9,"c":"staticRoutes","id":"z","item":null}\n')
      let thrown: unknown
      try { new ConfigStore(dir).load() } catch (err) { thrown = err }
      expect(thrown).toBeDefined()
      expect((thrown as { code?: string }).code).toBe('ERR_STORE_CORRUPT')
      expect((thrown as Error).name).toBe('StoreError')
    })
  }
})

describe('ConfigStore.open: damaged files never stop a start', () => {
  it('a damaged journal line: the state before it, the problem reported, later states offered', () => {
    const dir = tempDir()
    const store = new ConfigStore(dir)
    store.saveSnapshot({ generation: 1, config: emptyConfig() })
    store.appendItem(2, 'staticRoutes', 'a', route('a'), () => { throw new Error('unused') })
    appendFileSync(join(dir, 'journal.ndjson'), '{"g":3,"c":"nope","id":"a","item":null}\n')
    store.appendItem(4, 'staticRoutes', 'b', route('b'), () => { throw new Error('unused') })
    const opened = new ConfigStore(dir).open()
    expect(opened.state).toEqual({ generation: 2, config: { ...emptyConfig(), staticRoutes: [route('a')] } })
    expect(opened.problems).toEqual([expect.objectContaining({ code: 'ERR_STORE_CORRUPT', file: 'journal.ndjson', line: 2 })])
    expect(opened.highestGeneration).toBe(4)
    expect([...opened.earlier()].map((s) => s.generation)).toEqual([1])
  })

  it('earlier states: each journal prefix newest first, then the snapshot, then the previous snapshot', () => {
    const dir = tempDir()
    const store = new ConfigStore(dir)
    store.saveSnapshot({ generation: 1, config: emptyConfig() })
    store.saveSnapshot({ generation: 2, config: { ...emptyConfig(), staticRoutes: [route('p')] } })
    store.appendItem(3, 'staticRoutes', 'a', route('a'), () => { throw new Error('unused') })
    store.appendItem(4, 'staticRoutes', 'b', route('b'), () => { throw new Error('unused') })
    const opened = new ConfigStore(dir).open()
    expect(opened.state.generation).toBe(4)
    expect(opened.problems).toEqual([])
    expect([...opened.earlier()].map((s) => [s.generation, s.config.staticRoutes.map((r) => r.id)])).toEqual([[3, ['p', 'a']], [2, ['p']], [1, []]])
  })

  it('an unreadable snapshot: the previous snapshot is the state, the damage reported', () => {
    const dir = tempDir()
    const store = new ConfigStore(dir)
    store.saveSnapshot({ generation: 1, config: { ...emptyConfig(), staticRoutes: [route('p')] } })
    store.saveSnapshot({ generation: 2, config: emptyConfig() })
    writeFileSync(join(dir, 'config.json'), '{"generation":2,')
    const opened = new ConfigStore(dir).open()
    expect(opened.state).toEqual({ generation: 1, config: { ...emptyConfig(), staticRoutes: [route('p')] } })
    expect(opened.problems).toEqual([expect.objectContaining({ code: 'ERR_STORE_CORRUPT', file: 'config.json' })])
  })

  it('replace() keeps the damaged files aside and stores the chosen state as a clean snapshot', () => {
    const dir = tempDir()
    const store = new ConfigStore(dir)
    store.saveSnapshot({ generation: 1, config: emptyConfig() })
    appendFileSync(join(dir, 'journal.ndjson'), 'null\n{"g":3,"c":"staticRoutes","id":"z","item":null}\n')
    const reopened = new ConfigStore(dir)
    const opened = reopened.open()
    reopened.replace({ generation: opened.highestGeneration + 1, config: opened.state.config })
    expect(readdirSync(dir).filter((n) => n.includes('.rejected-')).length).toBe(2)
    expect(statSync(join(dir, 'journal.ndjson')).size).toBe(0)
    expect(new ConfigStore(dir).load()).toEqual({ generation: 4, config: emptyConfig() })
    expect(existsSync(join(dir, 'config.json'))).toBe(true)
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

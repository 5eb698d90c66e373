import { appendFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LAB_ADDR, labRouterConfig } from '../../src/lab/lab.ts'
import { RouterdProcess } from '../helpers/routerd-process.ts'

const root = process.getuid?.() === 0

const forward = (id: string, port: number) => ({
  id, publicIp: '203.0.113.12', protocol: 'tcp', publicPorts: { start: port }, privateIp: LAB_ADDR.vm1, privatePorts: { start: 80 },
})

/**
 * The config store under real crashes: routerd (the bundle, in the lab's router namespace)
 * killed with SIGKILL while item edits stream in, a torn journal tail, a stored state that no
 * longer validates. After each restart every acknowledged edit must be there and routerd must
 * serve.
 */
describe.skipIf(!root)('routerd store: SIGKILL during journal writes, torn tails, invalid stored state', () => {
  let r: RouterdProcess
  const journal = () => join(r.dir, 'state', 'journal.ndjson')

  beforeAll(async () => {
    r = await RouterdProcess.create()
    await r.put(labRouterConfig())
  })
  afterAll(async () => { await r?.close() })

  it('SIGKILL in the middle of a stream of item edits (and a torn tail): every acknowledged edit survives each restart', async () => {
    const acked = new Set<string>()
    let port = 20000
    for (let round = 0; round < 4; round++) {
      let stop = false
      let inFlight = 0
      const killAfter = acked.size + 5 + round * 3
      const editor = (async () => {
        while (!stop) {
          const id = `pf-${round}-${port}`
          inFlight++
          const res = await r.api('PUT', `/v1/config/portForwards/${id}`, forward(id, port++)).catch(() => undefined)
          inFlight--
          if (res?.status !== 200) return
          acked.add(id)
          // A deletion now and then, so replay also removes: the item must stay gone.
          if (port % 7 === 0) {
            const gone = [...acked][0] as string
            const del = await r.api('DELETE', `/v1/config/portForwards/${gone}`).catch(() => undefined)
            if (del?.status !== 200) return
            acked.delete(gone)
          }
        }
      })()
      while (acked.size < killAfter) await new Promise((resolve) => setTimeout(resolve, 5))
      // Killed while the next edit is being applied or written.
      expect(inFlight).toBeLessThanOrEqual(1)
      await r.kill()
      stop = true
      await editor
      // What a crash inside the append itself leaves (an append is one write(2), which SIGKILL
      // does not split; a power cut can): the first part of a line, no newline.
      if (round % 2 === 1) appendFileSync(journal(), `{"g":${9_000 + round},"c":"portForwards","id":"torn","item":{"id":"torn","publicIp":"203.0.`)
      await r.start()
      const stored = await r.api('GET', '/v1/config/portForwards')
      const ids = new Set((stored.body.items as { id: string }[]).map((i) => i.id))
      for (const id of acked) expect(ids.has(id), `acknowledged ${id} lost after round ${round}`).toBe(true)
      expect(ids.has('torn')).toBe(false)
      // The kernel holds what is stored.
      expect((await r.api('GET', '/v1/diff')).body.differences).toEqual([])
    }
    expect(readFileSync(journal(), 'utf8').endsWith('\n') || readFileSync(journal(), 'utf8') === '').toBe(true)
  })

  it('a stored edit that no longer validates never reaches the kernel: the last valid state is started and the problem is in /v1/status', async () => {
    const { body } = await r.api('GET', '/v1/config')
    const generation = body.generation as number
    await r.kill()
    // 10.0.0.1/8 has host bits set (ERR_BAD_CIDR): an item the API would refuse.
    const bad = { ...forward('pf-bad', 7777), sourceCidrs: ['10.0.0.1/8'] }
    appendFileSync(journal(), JSON.stringify({ g: generation + 1, c: 'portForwards', id: 'pf-bad', item: bad }) + '\n')
    await r.start()
    const status = (await r.api('GET', '/v1/status')).body
    expect(status.store.problems.map((p: { code: string }) => p.code)).toEqual(['ERR_STORE_INVALID', 'ERR_STORE_FALLBACK'])
    expect(status.desiredGeneration).toBe(generation + 2)
    const config = (await r.api('GET', '/v1/config')).body
    expect(config.config.portForwards.map((p: { id: string }) => p.id)).not.toContain('pf-bad')
    expect(config.config.portForwards.length).toBe(body.config.portForwards.length)
    const rules = (await r.lab.exec(r.lab.ns.rtr, 'iptables-save', [])).stdout
    expect(rules).not.toMatch(/7777/)
    // The fallback is stored: the next start is clean, and edits go on from it.
    const put = await r.api('PUT', '/v1/config/portForwards/pf-after', forward('pf-after', 7000))
    expect(put.status).toBe(200)
    expect(put.body.generation).toBe(generation + 3)
    await r.kill()
    await r.start()
    expect((await r.api('GET', '/v1/status')).body.store.problems).toEqual([])
    expect((await r.api('GET', '/v1/config/portForwards/pf-after')).status).toBe(200)
  })

  it('a damaged journal line in the middle: routerd starts with the state before it and reports it', async () => {
    const { body } = await r.api('GET', '/v1/config')
    const generation = body.generation as number
    await r.kill()
    appendFileSync(journal(), 'null\n' + JSON.stringify({ g: generation + 2, c: 'portForwards', id: 'pf-late', item: forward('pf-late', 7001) }) + '\n')
    await r.start()
    const status = (await r.api('GET', '/v1/status')).body
    expect(status.store.problems).toEqual([expect.objectContaining({ code: 'ERR_STORE_CORRUPT', file: 'journal.ndjson' })])
    // The state before the damaged line, stored past the generation the line after it names.
    expect(status.desiredGeneration).toBe(generation + 3)
    expect((await r.api('GET', '/v1/config')).body.config).toEqual(body.config)
    expect((await r.api('GET', '/v1/config/portForwards/pf-late')).status).toBe(404)
    // Stored clean again (damaged files set aside): an edit then a restart keeps it.
    expect((await r.api('PUT', '/v1/config/portForwards/pf-next', forward('pf-next', 7002))).status).toBe(200)
    await r.kill()
    await r.start()
    expect((await r.api('GET', '/v1/config/portForwards/pf-next')).status).toBe(200)
    expect((await r.api('GET', '/v1/status')).body.store.problems).toEqual([])
  })
})

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { forward, labRouterConfig, startFakeRouter, type FakeRouter } from '../../helpers/fake-router.ts'

/** The boot line's first document (routerd's initialConfigFile): taken only into an empty store. */
describe('engine initialConfig', () => {
  const routers: FakeRouter[] = []
  const dirs: string[] = []
  afterEach(async () => {
    for (const r of routers.splice(0)) await r.close().catch(() => undefined)
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })
  const start = async (opts: Parameters<typeof startFakeRouter>[0]) => {
    const r = await startFakeRouter(opts)
    routers.push(r)
    return r
  }

  it('an empty store takes it as generation 1, applied and stored', async () => {
    const initial = { ...labRouterConfig(), portForwards: [forward('pf-boot', 8080)] }
    const r = await start({ initialConfig: initial })
    expect(r.engine.getConfig().generation).toBe(1)
    expect((await r.api('GET', '/v1/config/portForwards/pf-boot')).status).toBe(200)
    expect(r.kernel.iptablesSave()).toContain('--dport 8080')
    expect(r.store.open().state.generation).toBe(1)
  })

  it('a store that holds a config keeps it: the orchestrator\'s config wins after the first boot', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'routerd-initial-'))
    dirs.push(stateDir)
    const first = await start({ stateDir, initialConfig: labRouterConfig() })
    expect((await first.api('PUT', '/v1/config/portForwards/pf-later', forward('pf-later', 9090))).status).toBe(200)
    // The first daemon goes; its state directory stays for the second.
    first.engine.stop()
    await first.app.close()
    routers.splice(0)
    const again = await start({ stateDir, initialConfig: { ...labRouterConfig(), portForwards: [forward('pf-boot', 8080)] } })
    expect(again.engine.getConfig().generation).toBe(2)
    expect((await again.api('GET', '/v1/config/portForwards/pf-later')).status).toBe(200)
    expect((await again.api('GET', '/v1/config/portForwards/pf-boot')).status).toBe(404)
  })

  it('one that does not validate is refused: the router starts empty, at generation 0', async () => {
    const r = await start({ initialConfig: { ...labRouterConfig(), portForwards: [{ id: 'bad', publicIp: 'nope' }] } })
    expect(r.engine.getConfig().generation).toBe(0)
    expect(r.engine.getConfig().config.portForwards).toEqual([])
  })
})

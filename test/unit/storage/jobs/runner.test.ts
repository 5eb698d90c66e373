import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../../../src/core/log.ts'
import { Metrics } from '../../../../src/core/metrics.ts'
import type { JobKindHandler } from '../../../../src/storage/jobs/kind.ts'
import type { ChecksumRequest } from '../../../../src/storage/jobs/model.ts'
import { JobRunner, maskRequest } from '../../../../src/storage/jobs/runner.ts'
import { JobStore } from '../../../../src/storage/jobs/store.ts'

/**
 * The job runner with a kind whose jobs end when the test says: at most N run at once, the rest
 * wait in order; cancel ends a waiting job at once and a running one once it stopped (cleanup
 * called); a stop leaves running jobs in progress on disk and a new runner runs them again.
 */

const dirs: string[] = []
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

function gatedKind() {
  const gates = new Map<string, () => void>()
  const started: string[] = []
  const cleaned: string[] = []
  const kind: JobKindHandler<ChecksumRequest> = {
    kind: 'checksum',
    check: () => [],
    stores: (r) => [r.store],
    run: (ctx) => new Promise((resolve, reject) => {
      started.push(ctx.request.path)
      ctx.keep({ seen: true })
      gates.set(ctx.request.path, () => resolve({ checksum: `{SHA-256}${ctx.request.path}` }))
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))
    }),
    cleanup: async (ctx) => { cleaned.push(ctx.request.path) },
  }
  return { kind, gates, started, cleaned }
}

function runner(dir: string, kind: JobKindHandler<ChecksumRequest>, maxConcurrent = 2) {
  return new JobRunner({
    store: new JobStore(dir), kinds: [kind as unknown as JobKindHandler], log: createLogger('test', { level: 'silent' }), metrics: new Metrics('t'),
    maxConcurrent, keepFinished: 3, configuredStores: () => new Set(['s']), storeRoot: () => '/nowhere',
  })
}

const request = (path: string) => ({ kind: 'checksum', store: 's', path })
const tick = () => new Promise((r) => setTimeout(r, 10))

describe('JobRunner', () => {
  it('runs at most maxConcurrent jobs, the rest in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jobs-'))
    dirs.push(dir)
    const k = gatedKind()
    const r = runner(dir, k.kind)
    r.start()
    const ids = ['a', 'b', 'c', 'd'].map((p) => r.submit(request(p)).id)
    await tick()
    expect(k.started).toEqual(['a', 'b'])
    expect(ids.map((id) => r.get(id).state)).toEqual(['DOWNLOAD_IN_PROGRESS', 'DOWNLOAD_IN_PROGRESS', 'NOT_DOWNLOADED', 'NOT_DOWNLOADED'])
    k.gates.get('b')?.()
    await tick()
    expect(k.started).toEqual(['a', 'b', 'c'])
    expect(r.get(ids[1] as string)).toMatchObject({ state: 'DOWNLOADED', percent: 100, result: { checksum: '{SHA-256}b' } })
    expect(r.storesInUse()).toEqual(new Set(['s']))
  })

  it('cancel: a waiting job at once, a running one after it stopped; both cleaned up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jobs-'))
    dirs.push(dir)
    const k = gatedKind()
    const r = runner(dir, k.kind, 1)
    r.start()
    const running = r.submit(request('run')).id
    const waiting = r.submit(request('wait')).id
    await tick()
    expect(await r.cancel(waiting)).toMatchObject({ state: 'ABANDONED', error: { code: 'ERR_JOB_CANCELLED' } })
    expect(await r.cancel(running)).toMatchObject({ state: 'ABANDONED', error: { code: 'ERR_JOB_CANCELLED' } })
    expect(k.cleaned.sort()).toEqual(['run', 'wait'])
    expect(k.started).toEqual(['run'])
  })

  it('a stop leaves running and waiting jobs to the next start, which runs them again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jobs-'))
    dirs.push(dir)
    const first = gatedKind()
    const r1 = runner(dir, first.kind, 1)
    r1.start()
    const a = r1.submit(request('a')).id
    const b = r1.submit(request('b')).id
    await tick()
    r1.stop()
    await tick()
    expect(first.cleaned).toEqual([])
    const second = gatedKind()
    const r2 = runner(dir, second.kind, 1)
    r2.start()
    await tick()
    expect(second.started).toEqual(['a'])
    expect(r2.get(a).state).toBe('DOWNLOAD_IN_PROGRESS')
    second.gates.get('a')?.()
    await tick()
    expect(second.started).toEqual(['a', 'b'])
    expect(r2.get(b).state).toBe('DOWNLOAD_IN_PROGRESS')
  })

  it('refuses a bad request with the diagnostics of its kind only, and keeps only the newest finished jobs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jobs-'))
    dirs.push(dir)
    const k = gatedKind()
    const r = runner(dir, k.kind, 8)
    r.start()
    expect(() => r.submit({ kind: 'checksum', store: 's' })).toThrow(expect.objectContaining({ diagnostics: [expect.objectContaining({ message: 'must have required properties path' })] }))
    expect(() => r.submit({ kind: 'nope' })).toThrow(expect.objectContaining({ diagnostics: [expect.objectContaining({ code: 'ERR_JOB_KIND' })] }))
    const ids = ['1', '2', '3', '4', '5'].map((p) => r.submit(request(p)).id)
    await tick()
    for (const p of ['1', '2', '3', '4', '5']) { k.gates.get(p)?.(); await tick() }
    expect(r.list().map((j) => j.id)).toEqual(ids.slice(2))
    expect(readdirSync(join(dir, 'jobs')).length).toBe(3)
  })

  it('masks credentials in a download URL', () => {
    const masked = maskRequest({ kind: 'download', store: 's', resource: 'template', url: 'http://u:secret@h/x.qcow2', accountId: 1, id: 1, name: 'n' })
    expect(JSON.stringify(masked)).not.toContain('secret')
  })
})

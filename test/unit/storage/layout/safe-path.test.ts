import { mkdir, mkdtemp, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openInStore, openResolvedInStore, resolveInStore, splitStorePath } from '../../../../src/storage/layout/safe-path.ts'

/*
 * A real tree:  <base>/store/            the store root
 *                 template/tmpl/2/205/a.qcow2
 *                 inside-link  -> template/tmpl            (stays inside)
 *                 abs-inside   -> <store>/template         (absolute, inside)
 *                 outside-link -> <base>/outside           (leaves the store)
 *                 up-link      -> ..                       (leaves the store)
 *                 dangling     -> does-not-exist
 *                 template/tmpl/2/205/file-link -> a.qcow2 (final-component symlink, inside)
 *                 template/tmpl/2/205/passwd    -> <base>/outside/secret
 *                 fifo                                      (a named pipe)
 *               <base>/outside/secret
 *               <base>/store-sibling/x     (a path that shares the root's prefix)
 */
let base = ''
let store = ''

beforeAll(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'layout-safe-path-')))
  store = join(base, 'store')
  await mkdir(join(store, 'template/tmpl/2/205'), { recursive: true })
  await mkdir(join(base, 'outside'))
  await mkdir(join(base, 'store-sibling'))
  await writeFile(join(store, 'template/tmpl/2/205/a.qcow2'), 'image')
  await writeFile(join(base, 'outside/secret'), 'secret')
  await writeFile(join(base, 'store-sibling/x'), 'x')
  await symlink('template/tmpl', join(store, 'inside-link'))
  await symlink(join(store, 'template'), join(store, 'abs-inside'))
  await symlink(join(base, 'outside'), join(store, 'outside-link'))
  await symlink('..', join(store, 'up-link'))
  await symlink('does-not-exist', join(store, 'dangling'))
  await symlink('../store-sibling', join(store, 'sibling-link'))
  await symlink('a.qcow2', join(store, 'template/tmpl/2/205/file-link'))
  await symlink(join(base, 'outside/secret'), join(store, 'template/tmpl/2/205/passwd'))
  execFileSync('mkfifo', [join(store, 'fifo')])
})

afterAll(async () => {
  if (base !== '') await rm(base, { recursive: true, force: true })
})

describe('splitStorePath (text checks)', () => {
  it.each([
    ['', 'empty path'],
    ['/etc/passwd', 'absolute path'],
    ['template/../../etc', '".." segment'],
    ['..', '".." segment'],
    ['./template', '"." segment'],
    ['template//tmpl', 'empty path segment'],
    ['template/tmpl//', 'empty path segment'],
    ['template\\..\\..\\etc', 'contains a backslash'],
    ['template/a\u0000b', 'contains a NUL byte'],
  ])('refuses %j: %s', (path, why) => {
    expect(() => splitStorePath(path)).toThrow(expect.objectContaining({ code: 'ERR_PATH_OUTSIDE_STORE', path, message: expect.stringContaining(why) }))
  })

  it('takes a plain relative path, one trailing slash allowed', () => {
    expect(splitStorePath('template/tmpl/2/205/')).toEqual(['template', 'tmpl', '2', '205'])
    expect(splitStorePath('volumes/2/88/x..y')).toEqual(['volumes', '2', '88', 'x..y'])
  })
})

describe('resolveInStore (with the filesystem)', () => {
  it('resolves existing and not-yet-existing paths under the root', async () => {
    expect(await resolveInStore(store, 'template/tmpl/2/205/a.qcow2')).toBe(`${store}/template/tmpl/2/205/a.qcow2`)
    expect(await resolveInStore(`${store}/`, 'template/tmpl/3/300/new.qcow2')).toBe(`${store}/template/tmpl/3/300/new.qcow2`)
    expect(await resolveInStore(store, 'volumes/2/88/')).toBe(`${store}/volumes/2/88`)
  })

  it('follows symlinks that stay inside the store, relative or absolute', async () => {
    expect(await resolveInStore(store, 'inside-link/2/205/a.qcow2')).toBe(`${store}/inside-link/2/205/a.qcow2`)
    expect(await resolveInStore(store, 'abs-inside/tmpl/2/new')).toBe(`${store}/abs-inside/tmpl/2/new`)
    expect(await resolveInStore(store, 'template/tmpl/2/205/file-link')).toBe(`${store}/template/tmpl/2/205/file-link`)
  })

  it('works when the store root itself is reached through a symlink', async () => {
    const alias = join(base, 'alias')
    await symlink(store, alias)
    expect(await resolveInStore(alias, 'inside-link/2/205/a.qcow2')).toBe(`${alias}/inside-link/2/205/a.qcow2`)
    await expect(resolveInStore(alias, 'outside-link/secret')).rejects.toMatchObject({ code: 'ERR_PATH_OUTSIDE_STORE' })
  })

  it.each([
    ['a symlinked directory pointing outside', 'outside-link/secret', 'outside-link'],
    ['a symlink to the parent', 'up-link/outside/secret', 'up-link'],
    ['a symlink to a sibling sharing the root\'s name prefix', 'sibling-link/x', 'sibling-link'],
    ['a final-component symlink pointing outside', 'template/tmpl/2/205/passwd', 'template/tmpl/2/205/passwd'],
    ['a path going on under an outside symlink, not existing yet', 'outside-link/new/file', 'outside-link'],
    ['a dangling symlink (its target could appear anywhere)', 'dangling', 'dangling'],
  ])('refuses %s with the offending component', async (_what, relative, offender) => {
    await expect(resolveInStore(store, relative)).rejects.toMatchObject({ code: 'ERR_PATH_OUTSIDE_STORE', path: `${store}/${offender}` })
  })

  it('refuses text-level escapes before touching the filesystem', async () => {
    await expect(resolveInStore(store, '../outside/secret')).rejects.toMatchObject({ code: 'ERR_PATH_OUTSIDE_STORE' })
    await expect(resolveInStore(store, '/etc/passwd')).rejects.toMatchObject({ code: 'ERR_PATH_OUTSIDE_STORE' })
  })

  it('reports a file used as a directory', async () => {
    await expect(resolveInStore(store, 'template/tmpl/2/205/a.qcow2/x')).rejects.toMatchObject({ code: 'ERR_PATH_NOT_DIRECTORY' })
  })
})

describe('openInStore', () => {
  it('opens a regular file inside the store for reading', async () => {
    const fh = await openInStore(store, 'template/tmpl/2/205/a.qcow2')
    try {
      expect((await fh.readFile()).toString()).toBe('image')
    } finally { await fh.close() }
  })

  it('opens through a directory symlink that stays inside', async () => {
    const fh = await openInStore(store, 'inside-link/2/205/a.qcow2')
    await fh.close()
  })

  it('refuses a final-component symlink, even one pointing inside (O_NOFOLLOW)', async () => {
    await expect(openInStore(store, 'template/tmpl/2/205/file-link')).rejects.toMatchObject({ code: 'ERR_PATH_OUTSIDE_STORE' })
  })

  it('refuses a final-component symlink swapped in after the check (O_NOFOLLOW)', async () => {
    const dir = join(store, 'template/tmpl/2/206')
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'b.qcow2'), 'b')
    const checked = await resolveInStore(store, 'template/tmpl/2/206/b.qcow2')
    await symlink(join(base, 'outside/secret'), join(dir, 'tmp-link'))
    await rename(join(dir, 'tmp-link'), join(dir, 'b.qcow2')) // atomic swap, as an attacker would
    await expect(openResolvedInStore(store, checked)).rejects.toMatchObject({ code: 'ERR_PATH_OUTSIDE_STORE', path: checked })
  })

  it('refuses a directory component swapped for an outward symlink after the check (/proc/self/fd)', async () => {
    const dir = join(store, 'template/tmpl/2/207')
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'secret'), 'fine')
    const checked = await resolveInStore(store, 'template/tmpl/2/207/secret')
    await rm(dir, { recursive: true })
    await symlink(join(base, 'outside'), dir) // 207 -> <base>/outside, which holds a file named secret
    await expect(openResolvedInStore(store, checked)).rejects.toMatchObject({ code: 'ERR_PATH_OUTSIDE_STORE', path: checked })
  })

  it('refuses directories and FIFOs without hanging', async () => {
    await expect(openInStore(store, 'template/tmpl')).rejects.toMatchObject({ code: 'ERR_NOT_A_FILE' })
    await expect(openInStore(store, 'fifo')).rejects.toMatchObject({ code: 'ERR_NOT_A_FILE' })
  })

  it('passes a missing file through as ENOENT', async () => {
    await expect(openInStore(store, 'template/tmpl/2/205/missing')).rejects.toMatchObject({ code: 'ENOENT' })
  })
})

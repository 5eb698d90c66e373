import { describe, expect, it } from 'vitest'
import { resolvePath } from '../../../src/router/services/metadata/paths.ts'

describe('resolvePath', () => {
  it.each([
    ['/latest/user-data', { kind: 'user-data' }],
    ['/latest/USER-DATA/', { kind: 'user-data' }],
    ['/latest/meta-data/', { kind: 'listing' }],
    ['/latest/meta-data', { kind: 'listing' }],
    ['/latest/meta-data/instance-id', { kind: 'key', key: 'instance-id' }],
    ['/Latest/Meta-Data/Instance-ID?x=1', { kind: 'key', key: 'instance-id' }],
    ['/latest/instance-id', { kind: 'key', key: 'instance-id' }],
    ['/latest/public-keys', { kind: 'key', key: 'public-keys' }],
    ['/latest', { kind: 'latest' }],
    ['/latest/', { kind: 'latest' }],
  ])('%s', (url, expected) => {
    expect(resolvePath(url)).toEqual(expected)
  })

  it.each(['/', '/index.html', '/2009-04-04/meta-data/', '/latest/meta-data/a/b', '/latest/user-data/x', '/' + 'a'.repeat(600)])('%s is no path of ours', (url) => {
    expect(resolvePath(url)).toBeUndefined()
  })
})

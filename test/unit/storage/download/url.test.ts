import { describe, expect, it } from 'vitest'
import { errorCode } from '../../../../src/core/errors.ts'
import { authority, parseDownloadUrl, parseProxyUrl, planRedirect, redactUrl, urlPort } from '../../../../src/storage/download/url.ts'

const basic = (text: string) => `Basic ${Buffer.from(text, 'utf8').toString('base64')}`

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return errorCode(err)
  }
  return undefined
}

describe('storage/download url', () => {
  const redactions = [
    { name: 'a password and a user are masked', url: 'http://user:pw@host/x.img', expected: 'http://***:***@host/x.img' },
    { name: 'a user alone is masked', url: 'https://token@host/x', expected: 'https://***@host/x' },
    { name: 'signature-like query values are masked, the others kept byte for byte', url: 'https://s3/b/k.qcow2?X-Amz-Signature=abc&X-Amz-Credential=AK%2F1&a=%20b&flag', expected: 'https://s3/b/k.qcow2?X-Amz-Signature=***&X-Amz-Credential=***&a=%20b&flag' },
    { name: 'a URL without secrets is unchanged', url: 'http://10.0.0.1:8080/t/1.vhd', expected: 'http://10.0.0.1:8080/t/1.vhd' },
    { name: 'text that is not a URL still loses anything shaped like userinfo', url: 'ht tp://u:secret@x', expected: 'ht tp://***@x' },
  ]
  for (const c of redactions) {
    it(`redactUrl: ${c.name}`, () => {
      expect(redactUrl(c.url)).toBe(c.expected)
    })
  }

  it('parseDownloadUrl: credentials leave the URL and become Basic auth, percent-decoded', () => {
    const t = parseDownloadUrl('http://al%40ice:p%3Ass%20w@host:81/a/b.img?x=1#frag')
    expect(t.url.href).toBe('http://host:81/a/b.img?x=1')
    expect(t.authorization).toBe(basic('al@ice:p:ss w'))
    expect(parseDownloadUrl('https://host/x').authorization).toBeUndefined()
  })

  const refused = [
    { name: 'ftp', url: 'ftp://host/x' },
    { name: 'file', url: 'file:///etc/shadow' },
    { name: 'nfs (CloudStack refuses it for downloads too)', url: 'nfs://10.1.1.1/export' },
    { name: 'not a URL', url: '/just/a/path' },
  ]
  for (const c of refused) {
    it(`parseDownloadUrl refuses ${c.name}: ERR_DOWNLOAD_URL`, () => {
      expect(codeOf(() => parseDownloadUrl(c.url))).toBe('ERR_DOWNLOAD_URL')
    })
  }

  it('parseProxyUrl: host, port (80 by default), Proxy-Authorization, a name without credentials; https proxies refused', () => {
    expect(parseProxyUrl('http://u:p@proxy.lan:3128')).toEqual({ host: 'proxy.lan', port: 3128, authorization: basic('u:p'), name: 'http://proxy.lan:3128' })
    expect(parseProxyUrl('http://[fd00::1]')).toMatchObject({ host: 'fd00::1', port: 80, authorization: undefined })
    expect(codeOf(() => parseProxyUrl('https://proxy:3128'))).toBe('ERR_DOWNLOAD_URL')
    expect(codeOf(() => parseProxyUrl('proxy:3128'))).toBe('ERR_DOWNLOAD_URL')
  })

  it('urlPort and authority: the scheme default port, IPv6 in brackets', () => {
    expect(urlPort(new URL('https://h/x'))).toBe(443)
    expect(urlPort(new URL('http://h/x'))).toBe(80)
    expect(authority(new URL('https://[fd00::2]/x'))).toBe('[fd00::2]:443')
    expect(authority(new URL('http://h:8080/x'))).toBe('h:8080')
  })

  describe('planRedirect', () => {
    const from = parseDownloadUrl('https://user:pw@a.example/dir/x.img')
    const follow = { follow: true, hops: 0 }
    const cases = [
      { name: 'a relative Location resolves against the current URL and keeps the credentials (same origin)', location: 'y.img', url: 'https://a.example/dir/y.img', auth: true },
      { name: 'another origin gets no credentials', location: 'https://mirror.example/x.img', url: 'https://mirror.example/x.img', auth: false },
      { name: 'same host, other port is another origin', location: 'https://a.example:8443/x.img', url: 'https://a.example:8443/x.img', auth: false },
    ]
    for (const c of cases) {
      it(c.name, () => {
        const next = planRedirect(from, 302, c.location, follow)
        expect(next.url.href).toBe(c.url)
        expect(next.authorization).toBe(c.auth ? from.authorization : undefined)
      })
    }

    const refusals = [
      { name: 'redirects not allowed', status: 301, location: '/z', options: { follow: false, hops: 0 }, message: /not allowed/ },
      { name: 'the sixth hop', status: 302, location: '/z', options: { follow: true, hops: 5 }, message: /more than 5 redirects/ },
      { name: 'https → http', status: 307, location: 'http://a.example/x.img', options: follow, message: /from https to http/ },
      { name: 'a scheme other than http(s)', status: 302, location: 'ftp://a.example/x', options: follow, message: /only http and https/ },
      { name: 'no Location', status: 303, location: undefined, options: follow, message: /without a Location/ },
    ]
    for (const c of refusals) {
      it(`refuses ${c.name}: ERR_DOWNLOAD_REDIRECT with the status`, () => {
        let caught: unknown
        try {
          planRedirect(from, c.status, c.location, c.options)
        } catch (err) {
          caught = err
        }
        expect(caught).toMatchObject({ code: 'ERR_DOWNLOAD_REDIRECT', status: c.status, message: expect.stringMatching(c.message) })
        expect((caught as Error).message).not.toContain('pw')
      })
    }

    it('credentials in the Location are used, and the http → https upgrade is allowed', () => {
      const next = planRedirect(parseDownloadUrl('http://h/x'), 301, 'https://v:w@h/x', follow)
      expect(next.url.href).toBe('https://h/x')
      expect(next.authorization).toBe(basic('v:w'))
    })
  })
})

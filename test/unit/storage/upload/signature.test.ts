import { describe, expect, it } from 'vitest'
import {
  normalizeBaseUrl, parseExpires, signedExtractQuery, signedUrlCandidates, signExtract, signUpload, verifyExtractSignature, verifyUploadSignature,
} from '../../../../src/storage/upload/signature.ts'

describe('signUpload (CloudStack EncryptionUtil.generateSignature)', () => {
  it('is Base64(HMAC-SHA1(key, metadata + url + expires)): RFC 2202 test case 2, split in three', () => {
    // HMAC-SHA1("Jefe", "what do ya want for nothing?") = effcdf6ae5eb2fa2d27416d5f184df9c259a7c79
    expect(signUpload('Jefe', 'what do ya ', 'want for ', 'nothing?')).toBe(Buffer.from('effcdf6ae5eb2fa2d27416d5f184df9c259a7c79', 'hex').toString('base64'))
    expect(signUpload('Jefe', 'what do ya ', 'want for ', 'nothing?')).toBe('7/zfauXrL6LSdBbV8YTfnCWafHk=')
  })

  it('keys and data are UTF-8 (Java getBytes("UTF-8"))', () => {
    expect(signUpload('clé', 'm', 'https://é/upload/u', 'e')).toBe(signUpload('cl\u00e9', 'm', 'https://\u00e9/upload/u', 'e'))
    expect(signUpload('clé', 'm', 'u', 'e')).not.toBe(signUpload('cle', 'm', 'u', 'e'))
  })
})

describe('verifyUploadSignature and the URL candidates', () => {
  const uuid = '1b2c3d4e-0000-4000-8000-000000000001'
  const settings = { publicBaseUrls: ['https://10-1-1-5.example.com', 'https://203.0.113.5'], acceptHostDerivedUrl: false }

  it('tries each configured base, never the Host when bases are set', () => {
    expect(signedUrlCandidates(uuid, settings, { host: 'evil', forwardedHost: 'x' })).toEqual([
      `https://10-1-1-5.example.com/upload/${uuid}`, `https://203.0.113.5/upload/${uuid}`,
    ])
  })

  it('without bases, tries X-Forwarded-Host (first of a list) then Host, https then http', () => {
    expect(signedUrlCandidates(uuid, { publicBaseUrls: [], acceptHostDerivedUrl: false }, { host: '127.0.0.1:8210', forwardedHost: 'ssvm.example, proxy.internal' })).toEqual([
      `https://ssvm.example/upload/${uuid}`, `http://ssvm.example/upload/${uuid}`,
      `https://127.0.0.1:8210/upload/${uuid}`, `http://127.0.0.1:8210/upload/${uuid}`,
    ])
    expect(signedUrlCandidates(uuid, { publicBaseUrls: [], acceptHostDerivedUrl: true }, { host: 'a b/../' })).toEqual([])
  })

  it('returns the URL that matched; undefined for any change to metadata, URL, expiry or key', () => {
    const candidates = signedUrlCandidates(uuid, settings, {})
    const sig = signUpload('psk', 'meta', `https://203.0.113.5/upload/${uuid}`, '2030-01-01T00:00:00.000Z')
    expect(verifyUploadSignature('psk', sig, 'meta', '2030-01-01T00:00:00.000Z', candidates)).toBe(`https://203.0.113.5/upload/${uuid}`)
    expect(verifyUploadSignature('psk', sig, 'meta2', '2030-01-01T00:00:00.000Z', candidates)).toBeUndefined()
    expect(verifyUploadSignature('psk', sig, 'meta', '2030-01-01T00:00:00.001Z', candidates)).toBeUndefined()
    expect(verifyUploadSignature('other', sig, 'meta', '2030-01-01T00:00:00.000Z', candidates)).toBeUndefined()
    expect(verifyUploadSignature('psk', sig.slice(0, -2), 'meta', '2030-01-01T00:00:00.000Z', candidates)).toBeUndefined()
    expect(verifyUploadSignature('psk', '', 'meta', '2030-01-01T00:00:00.000Z', candidates)).toBeUndefined()
  })

  it.each([
    ['https://ssvm.example/', 'https://ssvm.example'],
    ['http://203.0.113.5:8080', 'http://203.0.113.5:8080'],
    ['https://proxy.example/ssvm1//', 'https://proxy.example/ssvm1'],
  ])('normalizes the base %j', (base, expected) => {
    expect(normalizeBaseUrl(base)).toBe(expected)
  })

  it.each(['ftp://x', 'https://', 'ssvm.example', 'https://a b', 'https://x/?q=1'])('refuses the base %j', (base) => {
    expect(() => normalizeBaseUrl(base)).toThrow()
  })
})

describe('parseExpires', () => {
  it.each([
    { name: 'Joda DateTime.toString() in UTC (CloudStack)', text: '2025-05-01T12:34:56.789Z', iso: '2025-05-01T12:34:56.789Z' },
    { name: 'an offset', text: '2025-05-01T14:34:56.789+02:00', iso: '2025-05-01T12:34:56.789Z' },
    { name: 'an offset without colon', text: '2025-05-01T07:04:56-0530', iso: '2025-05-01T12:34:56.000Z' },
    { name: 'no seconds', text: '2025-05-01T12:34Z', iso: '2025-05-01T12:34:00.000Z' },
    { name: 'nanoseconds', text: '2025-05-01T12:34:56.123456789Z', iso: '2025-05-01T12:34:56.123Z' },
    { name: 'Unix seconds', text: '1746102896', iso: '2025-05-01T12:34:56.000Z' },
  ])('reads $name', ({ text, iso }) => {
    expect(parseExpires(text)).toBe(Date.parse(iso))
  })

  it.each([
    ['no zone', '2025-05-01T12:34:56'],
    ['a date only', '2025-05-01'],
    ['February 30', '2025-02-30T00:00:00Z'],
    ['hour 24', '2025-05-01T24:00:00Z'],
    ['month 13', '2025-13-01T00:00:00Z'],
    ['words', 'tomorrow'],
    ['empty', ''],
    ['milliseconds as 13 digits', '1746102896000'],
  ])('refuses %s', (_why, text) => {
    expect(parseExpires(text)).toBeUndefined()
  })
})

describe('extract signatures', () => {
  it('sign and verify (HMAC-SHA256, base64url), bound to name, expiry and key', () => {
    const sig = signExtract('k', 'a.qcow2', 1_900_000_000)
    expect(sig).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(verifyExtractSignature('k', 'a.qcow2', 1_900_000_000, sig)).toBe(true)
    expect(verifyExtractSignature('k', 'b.qcow2', 1_900_000_000, sig)).toBe(false)
    expect(verifyExtractSignature('k', 'a.qcow2', 1_900_000_001, sig)).toBe(false)
    expect(verifyExtractSignature('k2', 'a.qcow2', 1_900_000_000, sig)).toBe(false)
    expect(signedExtractQuery('k', 'a.qcow2', 1_900_000_000_999)).toBe(`expires=1900000000&signature=${sig}`)
  })

  it('never equals an upload signature made with the same key', () => {
    expect(signExtract('k', 'x', 1)).not.toBe(signUpload('k', '', '/userdata/x', '1').replace(/=+$/, ''))
  })
})

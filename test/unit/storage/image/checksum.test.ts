import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFile } from 'node:fs/promises'
import { errorCode } from '../../../../src/core/errors.ts'
import { binary, run } from '../../../../src/core/exec.ts'
import { createVerifier, formatChecksum, parseChecksum, type ChecksumAlgorithm } from '../../../../src/storage/image/checksum.ts'
import { feedFile, hashFile } from '../../../../src/storage/image/hash-file.ts'
import { makeFixtures, type Fixtures } from './fixtures.ts'

const codeOf = (f: () => unknown): string | undefined => {
  try { f() } catch (err) { return errorCode(err) }
  return undefined
}

describe('parseChecksum', () => {
  const md5 = 'd41d8cd98f00b204e9800998ecf8427e'
  const sha1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709'
  const sha256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
  const sha512 = 'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e'
  const cases: { name: string; text: string; expected: { algorithm: ChecksumAlgorithm; hex: string } }[] = [
    { name: 'bare hex is MD5', text: md5, expected: { algorithm: 'MD5', hex: md5 } },
    { name: '{MD5} prefix', text: `{MD5}${md5}`, expected: { algorithm: 'MD5', hex: md5 } },
    { name: '{SHA-1} prefix', text: `{SHA-1}${sha1}`, expected: { algorithm: 'SHA-1', hex: sha1 } },
    { name: '{SHA-256} prefix', text: `{SHA-256}${sha256}`, expected: { algorithm: 'SHA-256', hex: sha256 } },
    { name: '{SHA-512} prefix', text: `{SHA-512}${sha512}`, expected: { algorithm: 'SHA-512', hex: sha512 } },
    { name: 'the prefix is case-insensitive', text: `{sha-256}${sha256}`, expected: { algorithm: 'SHA-256', hex: sha256 } },
    { name: 'upper-case hex is lowered, surrounding blanks ignored', text: ` {Sha-1}${sha1.toUpperCase()}\n`, expected: { algorithm: 'SHA-1', hex: sha1 } },
  ]
  for (const c of cases) {
    it(c.name, () => {
      expect(parseChecksum(c.text)).toEqual(c.expected)
    })
  }

  const errors: { name: string; text: string; code: string; says: RegExp }[] = [
    { name: 'an unknown prefix', text: `{CRC32}deadbeef`, code: 'ERR_CHECKSUM_ALGORITHM', says: /CRC32/ },
    { name: 'SHA256 without the hyphen is not an algorithm name', text: `{SHA256}${sha256}`, code: 'ERR_CHECKSUM_ALGORITHM', says: /SHA256/ },
    { name: 'a SHA-256 digest under {MD5}', text: `{MD5}${sha256}`, code: 'ERR_CHECKSUM_FORMAT', says: /MD5 has 32 hex digits, this has 64/ },
    { name: 'a bare SHA-1 digest (bare means MD5)', text: sha1, code: 'ERR_CHECKSUM_FORMAT', says: /MD5 has 32/ },
    { name: 'one digit short', text: `{SHA-512}${sha512.slice(1)}`, code: 'ERR_CHECKSUM_FORMAT', says: /128 hex digits, this has 127/ },
    { name: 'not hexadecimal', text: `{SHA-1}${sha1.slice(0, 39)}g`, code: 'ERR_CHECKSUM_FORMAT', says: /not hexadecimal/ },
    { name: 'no closing brace', text: `{SHA-1${sha1}`, code: 'ERR_CHECKSUM_FORMAT', says: /closing/ },
    { name: 'a prefix without a digest', text: '{SHA-1}', code: 'ERR_CHECKSUM_FORMAT', says: /no digest/ },
  ]
  for (const c of errors) {
    it(`refuses ${c.name} with ${c.code}`, () => {
      expect(codeOf(() => parseChecksum(c.text))).toBe(c.code)
      expect(() => parseChecksum(c.text)).toThrow(c.says)
    })
  }

  it('formats with the canonical prefix', () => {
    expect(formatChecksum(parseChecksum(`{sha-1}${sha1}`))).toBe(`{SHA-1}${sha1}`)
  })
})

describe('createVerifier and hashFile against the coreutils digests of a real image', () => {
  let fx: Fixtures
  let image: string
  let bytes: Buffer
  const coreutils: Record<string, { tool: string; algorithm: ChecksumAlgorithm }> = {
    MD5: { tool: 'md5sum', algorithm: 'MD5' },
    'SHA-1': { tool: 'sha1sum', algorithm: 'SHA-1' },
    'SHA-256': { tool: 'sha256sum', algorithm: 'SHA-256' },
    'SHA-512': { tool: 'sha512sum', algorithm: 'SHA-512' },
  }
  const toolDigest = async (tool: string, path: string) => (await run(binary(tool), [path])).stdout.split(' ')[0]!

  beforeAll(async () => {
    fx = await makeFixtures()
    image = fx.byName('vmdk-stream-10M').path
    bytes = await readFile(fx.byName('raw-data').path)
  }, 60_000)
  afterAll(() => fx?.cleanup())

  for (const [prefix, { tool, algorithm }] of Object.entries(coreutils)) {
    it(`{${prefix}} streamed in uneven chunks matches ${tool}, and hashFile agrees`, async () => {
      const path = fx.byName('raw-data').path
      const expected = await toolDigest(tool, path)
      const verifier = createVerifier(`{${prefix.toLowerCase()}}${expected.toUpperCase()}`)
      for (let at = 0, step = 1; at < bytes.length; at += step, step = (step * 3 + 1) % 65_537) verifier.update(bytes.subarray(at, at + step))
      expect(verifier.digest()).toEqual({ algorithm, hex: expected, text: `{${algorithm}}${expected}`, given: { algorithm, hex: expected }, matches: true })
      expect(await hashFile(path, algorithm)).toBe(expected)
    })
  }

  it('bare hex is verified as MD5 (md5sum)', async () => {
    const expected = await toolDigest('md5sum', image)
    const verifier = createVerifier(expected)
    await feedFile(image, [verifier])
    expect(verifier.digest()).toMatchObject({ algorithm: 'MD5', hex: expected, matches: true })
  })

  it('a mismatched checksum reports matches=false with both digests', async () => {
    const other = await toolDigest('sha256sum', fx.byName('raw-data').path)
    const verifier = createVerifier(`{SHA-256}${other}`)
    await feedFile(image, [verifier])
    const result = verifier.digest()
    expect(result.matches).toBe(false)
    expect(result.hex).toBe(await toolDigest('sha256sum', image))
    expect(result.given).toEqual({ algorithm: 'SHA-256', hex: other })
  })

  it('no checksum (or a blank one) computes SHA-256 and reports it as {SHA-256}hex', async () => {
    const expected = await toolDigest('sha256sum', image)
    for (const none of [undefined, '', '  ']) {
      const verifier = createVerifier(none)
      await feedFile(image, [verifier])
      expect(verifier.digest()).toEqual({ algorithm: 'SHA-256', hex: expected, text: `{SHA-256}${expected}`, matches: true })
    }
  })

  it('a bad checksum is refused before any byte is hashed', () => {
    expect(codeOf(() => createVerifier('{WHIRLPOOL}00'))).toBe('ERR_CHECKSUM_ALGORITHM')
  })

  it('a resumed download re-hashes the partial file, then continues: same digest as one pass', async () => {
    const path = fx.byName('raw-data').path
    const partial = 1_234_567
    const verifier = createVerifier(undefined)
    expect(await feedFile(path, [verifier], { length: partial })).toBe(partial)
    verifier.update(bytes.subarray(partial))
    expect(verifier.digest().hex).toBe(await hashFile(path, 'SHA-256'))
    expect(await feedFile(path, [], { length: 0 })).toBe(0)
  })
})

import { createPrivateKey, X509Certificate } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { ApplianceError } from '../../../../core/errors.ts'
import { writeFileAtomic } from '../../../../core/files/atomic.ts'

/**
 * TLS certificates of load balancers in mode tls, kept out of the config like passwords: a
 * combined PEM (certificate, chain, key; what HAProxy's `crt` reads) per id, 0600, replaced
 * atomically. The key is write-only: what can be read back is the certificate's subject,
 * expiry and fingerprint.
 */

export interface CertificateInfo { id: string; subject: string; notAfter: string; fingerprint256: string }

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

export class CertificateStore {
  constructor(private readonly dir: string) {}

  path(id: string): string {
    return join(this.dir, `${id}.pem`)
  }

  has(id: string): boolean {
    return existsSync(this.path(id))
  }

  ids(): Set<string> {
    if (!existsSync(this.dir)) return new Set()
    return new Set(readdirSync(this.dir).filter((f) => f.endsWith('.pem')).map((f) => f.slice(0, -4)))
  }

  /** Checks that the key belongs to the certificate and stores them; ERR_BAD_CERTIFICATE names what is wrong (never the key). */
  put(id: string, pem: { certificate: string; key: string; chain?: string | undefined }): CertificateInfo {
    let cert: X509Certificate
    try {
      cert = new X509Certificate(pem.certificate)
    } catch {
      throw new ApplianceError('ERR_BAD_CERTIFICATE', 'certificate is not a PEM X.509 certificate')
    }
    let key
    try {
      key = createPrivateKey(pem.key)
    } catch {
      throw new ApplianceError('ERR_BAD_CERTIFICATE', 'key is not a PEM private key (unencrypted)')
    }
    if (!cert.checkPrivateKey(key)) throw new ApplianceError('ERR_BAD_CERTIFICATE', 'the key does not belong to the certificate')
    const chain = pem.chain === undefined ? [] : pem.chain.match(PEM) ?? []
    if (pem.chain !== undefined && chain.length === 0) throw new ApplianceError('ERR_BAD_CERTIFICATE', 'chain holds no PEM certificate')
    for (const c of chain) {
      try { new X509Certificate(c) } catch { throw new ApplianceError('ERR_BAD_CERTIFICATE', 'chain holds a certificate that does not parse') }
    }
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    const combined = [cert.toString().trim(), ...chain.map((c) => c.trim()), key.export({ type: 'pkcs8', format: 'pem' }).toString().trim()].join('\n') + '\n'
    writeFileAtomic(this.path(id), combined)
    return info(id, cert)
  }

  get(id: string): CertificateInfo | undefined {
    if (!this.has(id)) return undefined
    const first = readFileSync(this.path(id), 'utf8').match(PEM)?.[0]
    return first === undefined ? undefined : info(id, new X509Certificate(first))
  }

  list(): CertificateInfo[] {
    return [...this.ids()].sort().flatMap((id) => this.get(id) ?? [])
  }

  remove(id: string): boolean {
    if (!this.has(id)) return false
    rmSync(this.path(id))
    return true
  }
}

function info(id: string, cert: X509Certificate): CertificateInfo {
  return { id, subject: cert.subject.replace(/\n/g, ', '), notAfter: new Date(cert.validTo).toISOString(), fingerprint256: cert.fingerprint256 }
}

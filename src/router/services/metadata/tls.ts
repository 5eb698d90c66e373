import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { binary, run } from '../../../core/exec.ts'
import { fsyncDir } from '../../../core/files/atomic.ts'

/**
 * The certificate of the metadata server's port 443: self-signed, made once at first need and
 * kept in the state directory (0600 key), so it stays the same across restarts as guests that
 * pinned it expect. CloudStack's VR serves the distribution's snakeoil certificate.
 */

const DIR = 'metadata-tls'
const VALID_DAYS = '3650'

export async function metadataCertificate(stateDir: string): Promise<{ cert: Buffer; key: Buffer }> {
  const dir = join(stateDir, DIR)
  const certPath = join(dir, 'cert.pem')
  const keyPath = join(dir, 'key.pem')
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const tmpCert = `${certPath}.tmp`
    const tmpKey = `${keyPath}.tmp`
    rmSync(tmpCert, { force: true })
    rmSync(tmpKey, { force: true })
    await run(binary('openssl'), [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256',
      '-days', VALID_DAYS, '-subj', '/CN=data-server', '-addext', 'subjectAltName=DNS:data-server,IP:169.254.169.254',
      '-keyout', tmpKey, '-out', tmpCert,
    ], { timeoutMs: 30_000 })
    chmodSync(tmpKey, 0o600)
    // The key first: a certificate is only ever found next to its own key.
    renameSync(tmpKey, keyPath)
    renameSync(tmpCert, certPath)
    fsyncDir(dir)
  }
  return { cert: readFileSync(certPath), key: readFileSync(keyPath) }
}

import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { StartedProcess } from '../../src/core/exec.ts'
import type { Lab } from '../../src/lab/lab.ts'
import { waitTcpListen } from '../lib/listen.ts'

/**
 * The metadata peer of bench-metadata: Apache 2.4 (Debian's apache2) serving user data and
 * metadata the way CloudStack's virtual router lays them out (reference: cloudstack-systemvm.md
 * 5.2), written for the bench from that description:
 *
 *   <dir>/html/latest/.htaccess           RewriteEngine, per metadata file name two rules
 *                                         (^meta-data/(<file>)$ and the legacy ^(<file>)$) and the
 *                                         user-data / meta-data index rules, each rewriting to
 *                                         ../metadata/%{REMOTE_ADDR}/… [L,NC,QSA]
 *   <dir>/html/metadata/<vm ip>/<file>    one static file per key, plus `meta-data` (the names)
 *   <dir>/html/userdata/<vm ip>/user-data the raw user data
 *   <dir>/html/{metadata,userdata}/<vm ip>/.htaccess
 *                                         Options -Indexes; Order Deny,Allow; Deny from all;
 *                                         Allow from <vm ip>  (mod_access_compat)
 *
 * One vhost on <router ip>:80 with AllowOverride All on the document root, so every request
 * reads the .htaccess files along its path, before and after the rewrite, as on the router.
 * Debian's defaults otherwise (mpm_event and its thread counts, KeepAlive On, 100 requests a
 * connection, 5 s). No access log (the router's Apache logs every request: leaving it out favours
 * the peer) and no TLS listener (only port 80 is measured).
 */

export interface ApacheVm { ip: string; files: Readonly<Record<string, string>>; userData: Buffer }

const MODULES = ['mpm_event', 'authz_core', 'authz_host', 'access_compat', 'rewrite', 'mime']

/** Pure. The rewrite rules of /latest/.htaccess for these metadata file names. */
export function renderLatestHtaccess(files: readonly string[]): string {
  const lines = ['Options +FollowSymLinks', 'RewriteEngine On',
    'RewriteRule ^user-data/?$ ../userdata/%{REMOTE_ADDR}/user-data [L,NC,QSA]',
    'RewriteRule ^meta-data/?$ ../metadata/%{REMOTE_ADDR}/meta-data [L,NC,QSA]']
  for (const f of files) {
    const name = f.replace(/[.]/g, '\\.')
    lines.push(`RewriteRule ^meta-data/(${name})$ ../metadata/%{REMOTE_ADDR}/$1 [L,NC,QSA]`, `RewriteRule ^(${name})$ ../metadata/%{REMOTE_ADDR}/$1 [L,NC,QSA]`)
  }
  return lines.join('\n') + '\n'
}

/** Pure. A per-VM directory's .htaccess: only that VM's address may read it. */
export function renderVmHtaccess(ip: string): string {
  return `Options -Indexes\nOrder Deny,Allow\nDeny from all\nAllow from ${ip}\n`
}

/** Pure. The server config: the vhost on `listen`:80 over `dir`/html, runtime files in `dir`. */
export function renderApacheConf(dir: string, listen: string): string {
  return [
    '# bench-metadata: Apache as CloudStack\'s virtual router serves metadata (bench/peers/apache.ts).',
    `DefaultRuntimeDir ${dir}/run`, `PidFile ${dir}/run/apache2.pid`, `Mutex file:${dir}/run default`,
    `ErrorLog ${dir}/error.log`, 'LogLevel warn', 'User www-data', 'Group www-data', `ServerName ${listen}`,
    ...MODULES.map((m) => `LoadModule ${m}_module /usr/lib/apache2/modules/mod_${m}.so`),
    'TypesConfig /etc/mime.types',
    '# Debian\'s apache2.conf and mods-available/mpm_event.conf',
    'Timeout 300', 'KeepAlive On', 'MaxKeepAliveRequests 100', 'KeepAliveTimeout 5', 'HostnameLookups Off', 'AccessFileName .htaccess',
    'StartServers 2', 'MinSpareThreads 25', 'MaxSpareThreads 75', 'ThreadLimit 64', 'ThreadsPerChild 25', 'MaxRequestWorkers 150', 'MaxConnectionsPerChild 0',
    '<Directory />', '  Options FollowSymLinks', '  AllowOverride None', '  Require all denied', '</Directory>',
    `Listen ${listen}:80`,
    `<VirtualHost ${listen}:80>`, `  DocumentRoot ${dir}/html`,
    `  <Directory ${dir}/html>`, '    Options FollowSymLinks', '    AllowOverride All', '    Require all granted', '  </Directory>',
    '</VirtualHost>', '',
  ].join('\n')
}

/** Writes the document root and the config under `dir` (readable by www-data); returns the config's path. */
export function writeApacheSite(dir: string, listen: string, vms: readonly ApacheVm[]): string {
  chmodSync(dir, 0o755)
  const html = join(dir, 'html')
  const mkdir = (path: string) => mkdirSync(path, { recursive: true, mode: 0o755 })
  const write = (path: string, text: string | Buffer) => writeFileSync(path, text, { mode: 0o644 })
  mkdir(join(dir, 'run'))
  mkdir(join(html, 'latest'))
  const names = new Set<string>()
  for (const vm of vms) {
    const meta = join(html, 'metadata', vm.ip)
    const user = join(html, 'userdata', vm.ip)
    mkdir(meta)
    mkdir(user)
    for (const [file, text] of Object.entries(vm.files)) {
      write(join(meta, file), text)
      names.add(file)
    }
    write(join(meta, 'meta-data'), Object.keys(vm.files).join('\n') + '\n')
    write(join(user, 'user-data'), vm.userData)
    write(join(meta, '.htaccess'), renderVmHtaccess(vm.ip))
    write(join(user, '.htaccess'), renderVmHtaccess(vm.ip))
  }
  write(join(html, 'latest', '.htaccess'), renderLatestHtaccess([...names].sort()))
  const conf = join(dir, 'apache2.conf')
  write(conf, renderApacheConf(dir, listen))
  return conf
}

/** Starts `apache2 -f <conf> -DFOREGROUND` in namespace `ns` and waits until it listens on `listen`:80. */
export async function startApache(lab: Lab, ns: string, conf: string, listen: string): Promise<StartedProcess> {
  const p = lab.start(ns, 'apache2', ['-f', conf, '-DFOREGROUND'])
  await waitTcpListen(lab, ns, [`${listen}:80`], true, p)
  return p
}

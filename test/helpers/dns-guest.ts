import type { Lab } from '../../src/lab/lab.ts'

/**
 * DNS as a guest sends it, byte for byte: queries given as hex are sent from namespace `ns` to
 * `server`:53 (UDP, or TCP with the 2-byte length prefix) and the replies come back as hex, in
 * the order they arrived. Queries nobody answers within `waitMs` leave their reply out.
 */
export async function dnsExchange(lab: Lab, ns: string, server: string, queries: readonly string[], opts: { tcp?: boolean; waitMs?: number } = {}): Promise<string[]> {
  const script = `
    const queries = ${JSON.stringify(queries)}.map((h) => Buffer.from(h, 'hex'));
    const replies = [];
    const done = () => { process.stdout.write(JSON.stringify(replies)); process.exit(0) };
    setTimeout(done, ${opts.waitMs ?? 2000});
    if (${opts.tcp === true}) {
      const s = require('node:net').connect(53, ${JSON.stringify(server)});
      let buf = Buffer.alloc(0);
      s.on('error', done);
      s.on('connect', () => { for (const q of queries) { const l = Buffer.alloc(2); l.writeUInt16BE(q.length); s.write(Buffer.concat([l, q])) } });
      s.on('data', (c) => {
        buf = Buffer.concat([buf, c]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) { replies.push(buf.subarray(2, 2 + buf.readUInt16BE(0)).toString('hex')); buf = buf.subarray(2 + buf.readUInt16BE(0)) }
        if (replies.length === queries.length) done();
      });
    } else {
      const s = require('node:dgram').createSocket('udp4');
      s.on('message', (m) => { replies.push(m.toString('hex')); if (replies.length === queries.length) done() });
      s.bind(0, () => { for (const q of queries) s.send(q, 53, ${JSON.stringify(server)}) });
    }`
  const out = await lab.exec(ns, process.execPath, ['-e', script], { timeoutMs: (opts.waitMs ?? 2000) + 10_000 })
  return JSON.parse(out.stdout) as string[]
}

#!/usr/bin/env node
// The lab's guest-side helper (tests, `make demo`), run by node inside lab namespaces. Each
// server answers with what it saw of the client, so the source address after NAT can be checked:
//   peer.mjs serve tcp 8080[-8090]   HTTP; body "<client ip> <local port>\n"
//   peer.mjs serve udp 5000[-5010] [ADDR]  datagram reply (bind ADDR on a multi-homed host: the reply must
//                                    come from the address the client asked) "<client ip> <local port>"
//   peer.mjs ask udp HOST PORT [FROM [SPORT]] prints the reply; exit 1 after 2 s without one
//   peer.mjs sink udp PORT           prints "from <source ip>" for every datagram received, answers nothing
//   peer.mjs send udp HOST PORT FROM sends one datagram from FROM and exits (no answer expected)
import { createServer } from 'node:http'
import { createSocket } from 'node:dgram'

const [mode, proto, a, b, from, sport] = process.argv.slice(2)
if (mode === 'serve') {
  const [lo, hi] = a.split('-').map(Number)
  for (let port = lo; port <= (hi ?? lo); port++) {
    if (proto === 'tcp') {
      createServer((req, res) => res.end(`${req.socket.remoteAddress} ${port}\n`)).listen(port, b ?? '0.0.0.0')
    } else {
      const s = createSocket('udp4')
      s.on('message', (_msg, rinfo) => s.send(`${rinfo.address} ${port}`, rinfo.port, rinfo.address))
      s.bind(port, b ?? '0.0.0.0')
    }
  }
  process.stdout.write('ready\n')
} else if (mode === 'ask' && proto === 'udp') {
  const s = createSocket('udp4')
  const timer = setTimeout(() => process.exit(1), 2000)
  s.on('message', (msg) => { clearTimeout(timer); process.stdout.write(`${msg}\n`); process.exit(0) })
  if (from || sport) s.bind({ address: from || '0.0.0.0', port: Number(sport ?? 0) }, () => s.send('ping', Number(b), a))
  else s.send('ping', Number(b), a)
} else if (mode === 'sink' && proto === 'udp') {
  const s = createSocket('udp4')
  s.on('message', (_msg, rinfo) => process.stdout.write(`from ${rinfo.address}\n`))
  s.bind(Number(a), () => process.stdout.write('ready\n'))
} else if (mode === 'send' && proto === 'udp') {
  const s = createSocket('udp4')
  s.on('error', (err) => { process.stderr.write(`${err.message}\n`); process.exit(1) })
  s.bind({ address: from, port: 0 }, () => s.send('spoof', Number(b), a, (err) => {
    if (err) { process.stderr.write(`${err.message}\n`); process.exit(1) }
    s.close()
  }))
} else {
  process.stderr.write('usage: peer.mjs serve tcp|udp PORT[-PORT] | ask udp HOST PORT | sink udp PORT | send udp HOST PORT FROM\n')
  process.exit(2)
}

// Records what the real kernel tools answer, for test/unit/kernel/fake/replay.test.ts: runs a
// fixed list of calls (iptables-restore/-save, ipset, ip, conntrack, sysctl) in a throwaway
// network namespace it deletes again, and writes each call with its exit code, stdout and
// stderr. Outputs that vary between runs (dates, random peer MACs, DAD flags, hash order) are
// normalized; nothing machine specific is kept. Needs root and the tools:
//   sudo node scripts/record-fake-kernel.mjs test/unit/kernel/fake/recorded-transcript.json
// Re-record after a tool upgrade, then make the fake answer the same.
import { spawnSync } from 'node:child_process'
import { normalizeOutput } from './transcript-normalize.mjs'
import { readFileSync, writeFileSync } from 'node:fs'
const ns = `svmfake${process.pid}`
const G = new URL('../test/golden/full/expected', import.meta.url).pathname
const sh = (args, input) => spawnSync(args[0], args.slice(1), { input: input ?? '', encoding: 'utf8' })
const links = [['eth0', '02:5e:00:00:00:01'], ['eth1', '02:5e:00:00:00:02'], ['eth2', '02:5e:00:00:00:03'], ['eth3', '02:5e:00:00:00:04']]
const steps = []
const step = (tool, args, stdin = '', compare = 'exact') => steps.push({ tool, args, stdin, compare })
const addLink = (name, mac) => steps.push({ addLink: { name, mac } })
const netBatch = `link set dev eth0 up
link set dev eth1 mtu 1450 up
link set dev eth2 up
link set dev eth3 up
address add 169.254.10.2/16 dev eth0
address add 198.51.100.10/24 dev eth3
address add 203.0.113.10/24 dev eth2
address add 203.0.113.12/24 dev eth2
address add 203.0.113.11/24 dev eth2
address add 10.1.1.1/24 dev eth1
route replace default via 203.0.113.1 dev eth2 proto 199
route replace 172.16.0.0/12 via 10.1.1.254 proto 199
route replace default via 203.0.113.1 dev eth2 table 100 proto 199
route replace default via 198.51.100.1 dev eth3 table 101 proto 199
rule add priority 1000 lookup main suppress_prefixlength 0 protocol 199
rule add priority 1100 fwmark 0x64/0xff lookup 100 protocol 199
rule add priority 1200 from 203.0.113.10 lookup 100 protocol 199
rule add priority 1101 fwmark 0x65/0xff lookup 101 protocol 199
rule add priority 1201 from 198.51.100.10 lookup 101 protocol 199
`
step('iptables-save', [])
step('ipset', ['save'])
step('ip', ['-json', 'link', 'show'], '', 'json')
step('ipset', ['restore'], readFileSync(`${G}/ipset.restore`, 'utf8'))
step('ipset', ['save'], '', 'ipset-save')
step('ipset', ['list', '-n'])
step('iptables-restore', ['-w', '5'], readFileSync(`${G}/iptables.rules`, 'utf8'))
step('iptables-save', [], '', 'save')
step('iptables-save', ['-c', '-t', 'raw'], '', 'save')
step('ip', ['-batch', '-'], netBatch)
step('ip', ['-json', 'link', 'show'], '', 'json')
step('ip', ['-json', 'address', 'show'], '', 'json')
step('ip', ['-json', 'route', 'show', 'table', 'all', 'proto', '199'], '', 'json')
step('ip', ['-json', 'route', 'show'], '', 'json')
step('ip', ['-json', 'rule', 'show'], '', 'json')
const batch = (text) => step('ip', ['-batch', '-'], text)
batch('route replace default via 100.64.0.1 dev eth3 table 101 proto 199\n')
batch('address add 10.9.9.9/24 dev eth1\naddress add 10.1.1.1/24 dev eth1\naddress add 10.9.9.8/24 dev eth1\n')
step('ip', ['-json', 'address', 'show', 'dev', 'eth1'], '', 'json')
batch('route del 10.77.0.0/16 proto 199\n')
batch('rule del priority 1300 from 10.7.7.7 lookup 100 protocol 199\n')
batch('address add 10.5.5.5/24 dev eth9\n')
batch('address del 10.5.5.5/24 dev eth1\n')
batch('rule add priority 1100 fwmark 0x64/0xff lookup 100 protocol 199\n')
batch('route replace 10.8.0.0/16 via 10.1.1.254 dev eth2 proto 199\n')
batch('route replace 10.8.0.0/16 via 10.1.1.254 table 100 proto 199\n')
addLink('eth5', '02:5e:00:00:00:05')
batch('route replace 10.6.0.0/16 dev eth5 proto 199\n')
batch('address add 10.6.6.1/24 dev eth5\nroute replace 10.6.0.0/16 via 10.6.6.2 proto 199\n')
batch('bogus command\n')
batch('link set dev eth3 down\n')
step('ip', ['-json', 'route', 'show', 'table', 'all', 'proto', '199'], '', 'json')
step('ip', ['-json', 'route', 'show'], '', 'json')
batch('link set dev eth3 up\n')
step('ip', ['-json', 'route', 'show'], '', 'json')
batch('address del 203.0.113.10/24 dev eth2\n')
step('ip', ['-json', 'address', 'show', 'dev', 'eth2'], '', 'json')
step('ip', ['-json', 'route', 'show', 'table', 'all', 'proto', '199'], '', 'json')
batch('address add 10.1.9.1/24 dev eth1\naddress del 10.1.9.1/24 dev eth1\n')
step('ip', ['-json', 'route', 'show', 'table', 'all', 'proto', '199'], '', 'json')
batch('rule del priority 1201 from 198.51.100.10 lookup 101 protocol 199\nrule del priority 1101 fwmark 0x65/0xff lookup 101 protocol 199\n')
step('ip', ['-json', 'rule', 'show'], '', 'json')
const ipt = (text, args = ['-w', '5', '--noflush']) => step('iptables-restore', args, text)
ipt('*filter\n:SVM-T1 - [0:0]\n-A SVM-T1 -m set --match-set svm-nosuch src -j ACCEPT\nCOMMIT\n')
ipt('*filter\n:SVM-T2 - [0:0]\n-A SVM-T2 -j SVM-NOSUCH\nCOMMIT\n')
ipt('*filter\n-A SVM-NOSUCH -j ACCEPT\nCOMMIT\n')
ipt('*filter\n-D SVM-INPUT -s 10.99.0.0/16 -j ACCEPT\nCOMMIT\n')
ipt('*filter\n-X SVM-INPUT\nCOMMIT\n')
ipt('*raw\n:SVM-NEWRAW - [0:0]\n-A SVM-NEWRAW -j RETURN\nCOMMIT\n*nat\n:SVM-NEWNAT - [0:0]\n-A SVM-NEWNAT -p tcp --dport 99999 -j RETURN\nCOMMIT\n')
step('iptables-save', ['-t', 'raw'], '', 'save')
ipt('*filter\n:SVM-NOCOMMIT - [0:0]\n')
ipt('*filter\n:SVM-EGR-M5HH6PUBAQJZBOSXOXTP - [0:0]\nCOMMIT\n')
ipt('*filter\n:SVM-X9 - [0:0]\n-A SVM-X9 -j ACCEPT\nCOMMIT\n*filter\n-X SVM-X9\nCOMMIT\n')
ipt('*filter\n:SVM-T10 - [0:0]\n-A SVM-T10 -j DNAT --to-destination 10.0.0.1\nCOMMIT\n')
ipt('*filter\n:SVM-T11 - [0:0]\n-A SVM-T11 -m nosuchmatch --foo 1 -j ACCEPT\nCOMMIT\n')
ipt('*filter\n:SVM-T12 - [0:0]\n-A SVM-T12 -s 10.0.0.300 -j ACCEPT\nCOMMIT\n')
ipt('*filter\n:SVM-T13 - [0:0]\n-A SVM-T13 -p tcp --bogus 1 -j ACCEPT\nCOMMIT\n')
ipt('*filter\n:SVM-T14 - [0:0]\n-A SVM-T14 -s 10.1.2.3/8 -d 1.2.3.4 -p tcp --dport 80 -m comment --comment "a b" -m comment --comment plain -j ACCEPT\n'
  + '-A SVM-T14 -p tcp -m tcp --dport 80 -s 10.0.0.0/8 -m comment --comment svm:x:y -j ACCEPT\n-A SVM-T14 -p icmp -m icmp --icmp-type 8 -j ACCEPT\n'
  + '-A SVM-T14 -p icmp --icmp-type 8/0 -j ACCEPT\n-A SVM-T14 ! -s 10.0.0.0/8 -j RETURN\n-A SVM-T14 -p udp --sport 68 --dport 67 -j RETURN\n'
  + '-A SVM-T14 -j CONNMARK --set-xmark 100/255\nCOMMIT\n')
ipt('*filter\n-D SVM-T14 -p icmp -m icmp --icmp-type 8 -j ACCEPT\n-D SVM-T14 -j CONNMARK --set-xmark 0x64/0xff\nCOMMIT\n')
step('iptables-save', ['-t', 'filter'], '', 'save')
ipt('*filter\n:SVM-TOOLONG-0123456789012345678901 - [0:0]\nCOMMIT\n')
ipt('*filter\n:INPUT BOGUS [0:0]\nCOMMIT\n')
ipt('*filter\n:SVM-T15 - [0:0]\n-A SVM-T15 -p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16 -j ACCEPT\nCOMMIT\n')
ipt('*filter\n:SVM-T16 - [0:0]\n-A SVM-T16 -m conntrack --ctstate ESTABLISHED,RELATED,BOGUS -j ACCEPT\nCOMMIT\n')
ipt('*filter\n:SVM-T17 - [0:0]\n-A SVM-T17 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\nCOMMIT\n')
ipt('*filter\n:SVM-T18 - [0:0]\n-A SVM-T18 -s 10.1.1.10/32 -m mac --mac-source 02:AB:0:00:10:01 -j ACCEPT\nCOMMIT\n')
ipt('*filter\n:SVM-T19 - [0:0]\n-A SVM-T19 -m mac --mac-source 02:ab:00:00:10:zz -j ACCEPT\nCOMMIT\n')
step('iptables-save', ['-t', 'filter'], '', 'save')
step('ipset', ['create', 'svm-pf-open', 'hash:ip,port'])
step('ipset', ['restore'], 'add svm-pf-open 203.0.113.12,tcp:7777\nadd svm-nosuch 1.2.3.4\nadd svm-pf-open 203.0.113.12,tcp:7778\n')
step('ipset', ['restore'], 'add svm-pf-open 203.0.113.12,tcp:2222\n')
step('ipset', ['restore'], 'del svm-pf-open 203.0.113.12,tcp:9\n')
step('ipset', ['restore'], 'destroy svm-pf-open\n')
step('ipset', ['restore'], 'create svm-tmp-a hash:net family inet hashsize 1024 maxelem 65536\nswap svm-tmp-a svm-pf-open\n')
step('ipset', ['restore'], 'add svm-tmp-a 300.1.1.1\n')
step('ipset', ['restore'], 'add svm-tmp-a 10.1.2.3/8\nadd svm-tmp-a 10.1.2.3/32\nadd svm-tmp-a 10.9.9.9\n')
step('ipset', ['restore'], 'destroy svm-nosuch\n')
step('ipset', ['restore'], 'bogus svm-tmp-a\n')
step('ipset', ['restore'], 'create svm-tmp-b hash:net family inet hashsize 1024 maxelem 65536\nadd svm-tmp-b 10.0.0.0/8\nswap svm-tmp-b svm-tmp-a\n')
step('ipset', ['save'], '', 'ipset-save')
step('ipset', ['list', '-n'])
step('ipset', ['restore'], 'add svm-tmp-a 10.0.0.1/0\n')
step('ipset', ['restore'], 'create svm-tmp-c hash:ip,port family inet hashsize 1024 maxelem 2\nadd svm-tmp-c 1.1.1.1,tcp:1\nadd svm-tmp-c 1.1.1.1,tcp:2\nadd svm-tmp-c 1.1.1.1,tcp:3\n')
step('ipset', ['restore'], 'destroy svm-tmp-b\ncreate svm-tmp-d hash:net family inet hashsize 1024 maxelem 65536\n')
step('ipset', ['list', '-n'])
// Where an ipset batch stops: add/del lines of one set are sent as one message.
step('ipset', ['restore'], 'create A hash:net family inet hashsize 1024 maxelem 65536\ncreate B hash:net family inet hashsize 1024 maxelem 65536\n')
const E = (text) => { step('ipset', ['restore'], text); step('ipset', ['save'], '', 'ipset-save'); step('ipset', ['restore'], 'flush A\nflush B\n') }
E('add A 1.1.1.1\nadd A 2.2.2.2\nadd A 300.1.1.1\n')
E('add A 1.1.1.1\nadd A 2.2.2.2\nadd A 1.1.1.1\nadd A 9.9.9.9\n')
E('add A 3.3.3.3\ncreate A hash:net\n')
E('add A 4.4.4.4\nadd B 5.5.5.5\nadd NOSUCH 6.6.6.6\n')
E('add A 7.7.7.7\ndel A 8.8.8.8\n')
E('create C hash:net\nadd C 1.2.3.4\nadd C bad\n')
E('add A 1.1.1.1\nswap A NOSUCH\n')
E('add A 1.1.1.1\ndestroy NOSUCH\n')
E('add A 1.1.1.1\nadd A 2.2.2.2\nadd B 3.3.3.3\nadd B 3.3.3.3\n')
E('add A 1.1.1.1\nbogus\n')
E('add A 1.1.1.1\nadd A 2.2.2.2/0\n')
E('del A 1.1.1.1\nadd A 2.2.2.2\n')
E('add A 1.1.1.1\nswap NOSUCH A\n')
step('conntrack', ['-D', '-p', 'udp', '--orig-dst', '203.0.113.12'])
step('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=2'])

// Real runs, with normalization of what varies between runs (dates, random peer MACs, DAD timing).
const X = (args, input) => sh(['ip', 'netns', 'exec', ns, ...args], input)
const out = { recordedWith: {}, links: [], steps: [] }
try {
  sh(['ip', 'netns', 'add', ns])
  X(['ip', 'link', 'set', 'lo', 'up'])
  for (const [i, [name, mac]] of links.entries()) {
    X(['ip', 'link', 'add', name, 'address', mac, 'type', 'veth', 'peer', 'name', `peer${i}`])
    X(['ip', 'link', 'set', `peer${i}`, 'up'])
  }
  const linkList = JSON.parse(X(['ip', '-json', 'link', 'show']).stdout)
  out.links = linkList.filter((l) => l.ifname.startsWith('eth')).map((l) => ({ name: l.ifname, mac: l.address, ifindex: l.ifindex }))
  out.recordedWith = { iptables: sh(['iptables', '--version']).stdout.trim(), ipset: sh(['ipset', '--version']).stdout.trim(), ip: sh(['ip', '-V']).stdout.trim() }
  for (const s of steps) {
    if (s.addLink) {
      X(['ip', 'link', 'add', s.addLink.name, 'address', s.addLink.mac, 'type', 'veth', 'peer', 'name', 'peer9'])
      const l = JSON.parse(X(['ip', '-json', 'link', 'show', 'dev', s.addLink.name]).stdout)[0]
      out.steps.push({ addLink: { name: l.ifname, mac: l.address, ifindex: l.ifindex } })
      continue
    }
    const r = X([s.tool, ...s.args], s.stdin)
    out.steps.push({ ...s, exitCode: r.status, stdout: normalizeOutput(s.compare, r.stdout), stderr: r.stderr })
  }
} finally {
  sh(['ip', 'netns', 'del', ns])
}
writeFileSync(process.argv[2] ?? new URL('../test/unit/kernel/fake/recorded-transcript.json', import.meta.url).pathname, JSON.stringify(out, null, 1) + '\n')

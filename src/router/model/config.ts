import Type, { type Static } from 'typebox'
import { SecurityGroup, SecurityGroupRule, SgPort } from '../secgroup/model.ts'
import { Cidr, cidrList, DomainName, HostCidr, Id, ID_PATTERN, Ipv4, Mac, PortRange } from './primitives.ts'

/**
 * Config model v1: one declarative document holding everything the router enforces. Every
 * collection is an array of items with the orchestrator's `id`; the API can replace the whole
 * document or a single item. These schemas are the one source of the TypeScript types, of
 * request validation and of the OpenAPI document.
 */

const strict = { additionalProperties: false } as const

// control: the orchestrator's link (the control API and SSH); public and guest: a router's
// sides; management and storage: a host-network appliance's links to the cloud's management
// and storage networks (role hostnet).
export const InterfaceRole = Type.Union([
  Type.Literal('control'), Type.Literal('public'), Type.Literal('guest'), Type.Literal('management'), Type.Literal('storage'),
])

export const InterfaceSpec = Type.Object(
  {
    id: Id,
    role: InterfaceRole,
    mac: Type.Optional(Mac),
    name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,15}$', description: 'Kernel link name' })),
    mtu: Type.Optional(Type.Integer({ minimum: 576, maximum: 9216 })),
    addresses: Type.Optional(Type.Array(HostCidr, { maxItems: 64, description: 'Extra addresses (e.g. the control address)' })),
    gateway: Type.Optional(Type.String({ format: 'ipv4', description: "Upstream gateway of a public interface; of a management interface, the gateway internalSites are routed through (CloudStack's localgw)" })),
  },
  { ...strict, description: 'A network interface, matched on the host by MAC (preferred) or by name' },
)

export const PublicIp = Type.Object(
  {
    id: Id,
    ip: Ipv4,
    prefixLength: Type.Integer({ minimum: 1, maximum: 32 }),
    interface: Id,
    sourceNat: Type.Optional(Type.Boolean({ description: 'Guest traffic leaving this interface is source-NATed to this IP' })),
  },
  { ...strict, description: 'A public IP address held by the router' },
)

/** DHCP lease time: 60 s to ~136 years; 4294967295 means infinite (what CloudStack hands out). */
const LeaseSeconds = Type.Integer({ minimum: 60, maximum: 4294967295, description: 'Lease time in seconds; 4294967295 = infinite' })

export const AddressRange = Type.Object(
  { start: Ipv4, end: Ipv4 },
  { ...strict, description: 'Inclusive IPv4 address range' },
)

export const NetworkDhcp = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({ description: 'Serve DHCP on this network (default true)' })),
    gateway: Type.Optional(Type.String({ format: 'ipv4', description: "Router option (3) handed out; default the routerIp; a shared network's real gateway in the DHCP-only role" })),
    dnsServers: Type.Optional(Type.Array(Ipv4, { maxItems: 8, description: 'DNS option (6) handed out; default the routerIp while the router serves DNS, else the upstream dnsServers' })),
    searchDomains: Type.Optional(Type.Array(DomainName, { maxItems: 16, description: 'Domain search option (119); default none' })),
    ntpServers: Type.Optional(Type.Array(Ipv4, { maxItems: 8, description: 'NTP servers option (42)' })),
    mtu: Type.Optional(Type.Integer({ minimum: 576, maximum: 9216, description: "Interface MTU option (26); default the guest interface's mtu when set" })),
    leaseSeconds: Type.Optional(LeaseSeconds),
    range: Type.Optional(AddressRange),
    relays: Type.Optional(Type.Array(Ipv4, {
      maxItems: 8,
      description: "DHCP relay agents on this network (their own addresses): a relayed message (giaddr set) is served only from one of them, from port 67, on this network's link, for a giaddr inside the network; default none",
    })),
  },
  { ...strict, description: 'DHCP service of a guest network; only hosts listed in dhcpHosts get an address unless a dynamic range is given' },
)

export const NetworkDns = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({ description: "Serve DNS on the network's routerIp (default true)" })),
    rateLimitQps: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Queries per second one client may send, bursts of twice that (default 1000); more are dropped' })),
  },
  { ...strict, description: "DNS service of a guest network: authoritative for its domain, forwarding to its dnsServers" },
)

export const NetworkMetadata = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({
      description: "Serve the VMs' metadata and user data (ports 80 and 443, and 169.254.169.254:80) and their passwords (port 8080) on the network's routerIp (default true)",
    })),
  },
  { ...strict, description: "Metadata and password service of a guest network: each VM reads only its own (vmData, /v1/passwords)" },
)

export const GuestNetwork = Type.Object(
  {
    id: Id,
    interface: Id,
    cidr: Cidr,
    routerIp: Ipv4,
    domain: Type.Optional(DomainName),
    dnsServers: Type.Optional(Type.Array(Ipv4, { maxItems: 8, description: 'Upstream resolvers the router forwards other names to' })),
    dhcp: Type.Optional(NetworkDhcp),
    dns: Type.Optional(NetworkDns),
    metadata: Type.Optional(NetworkMetadata),
    egressDefault: Type.Optional(Type.Union([Type.Literal('allow'), Type.Literal('deny')], {
      description: 'What egress traffic not matched by a rule gets; rules do the opposite (default allow)',
    })),
  },
  { ...strict, description: 'A guest network behind the router' },
)

export const StaticNat = Type.Object(
  { id: Id, publicIp: Ipv4, privateIp: Ipv4 },
  { ...strict, description: 'One-to-one NAT between a public IP and a guest VM; ingress is opened by firewall rules on the public IP' },
)

export const ForwardProtocol = Type.Union([Type.Literal('tcp'), Type.Literal('udp')])

export const PortForward = Type.Object(
  {
    id: Id,
    publicIp: Ipv4,
    protocol: ForwardProtocol,
    publicPorts: PortRange,
    privateIp: Ipv4,
    privatePorts: PortRange,
    sourceCidrs: Type.Optional(cidrList('Who may use the forward (default: everyone)')),
  },
  { ...strict, description: 'Destination NAT of public ip:ports to a guest ip:ports; opens those ports' },
)

export const RuleProtocol = Type.Union([Type.Literal('tcp'), Type.Literal('udp'), Type.Literal('icmp'), Type.Literal('all')])

const IcmpField = Type.Integer({ minimum: 0, maximum: 255 })

export const FirewallRule = Type.Object(
  {
    id: Id,
    publicIp: Ipv4,
    protocol: RuleProtocol,
    ports: Type.Optional(PortRange),
    icmpType: Type.Optional(IcmpField),
    icmpCode: Type.Optional(IcmpField),
    sourceCidrs: Type.Optional(cidrList('Default 0.0.0.0/0')),
  },
  { ...strict, description: 'Ingress rule: opens traffic to a public IP (the router itself, or its static-NAT VM)' },
)

export const EgressRule = Type.Object(
  {
    id: Id,
    network: Id,
    protocol: RuleProtocol,
    ports: Type.Optional(PortRange),
    icmpType: Type.Optional(IcmpField),
    icmpCode: Type.Optional(IcmpField),
    sourceCidrs: Type.Optional(cidrList('Default: the whole guest network')),
    destinationCidrs: Type.Optional(cidrList('Default 0.0.0.0/0')),
  },
  { ...strict, description: "Egress rule of a guest network; its action is the opposite of the network's egressDefault" },
)

export const StaticRoute = Type.Object(
  { id: Id, cidr: Cidr, via: Ipv4 },
  { ...strict, description: 'A route to a network through a next hop on a connected network' },
)

export const InternalSite = Type.Object(
  { id: Id, cidr: Cidr },
  {
    ...strict,
    description: "A site on the management network the appliance's own HTTP(S) clients may reach (CloudStack's allowedInternalSites): "
      + 'new tcp/80 and tcp/443 connections out of a management interface are refused unless to one of these, and each is routed through the management gateway when not on the link',
  },
)

export const DhcpRoute = Type.Object(
  { destination: Cidr, gateway: Ipv4 },
  { ...strict, description: 'A classless static route (option 121) handed to the host' },
)

export const DhcpHost = Type.Object(
  {
    id: Id,
    network: Id,
    mac: Mac,
    ip: Ipv4,
    hostname: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9]([A-Za-z0-9-]{0,62})$', description: 'Host name (one DNS label); answers A/PTR in the network domain' })),
    ipv6: Type.Optional(Type.String({ format: 'ipv6', description: 'IPv6 address answered as AAAA for the hostname' })),
    default: Type.Optional(Type.Boolean({ description: "Whether this is the VM's default NIC (default true); a non-default NIC gets no router, DNS or domain" })),
    dnsServers: Type.Optional(Type.Array(Ipv4, { maxItems: 8, description: "Extra DNS servers, after the network's" })),
    staticRoutes: Type.Optional(Type.Array(DhcpRoute, { maxItems: 32 })),
    leaseSeconds: Type.Optional(LeaseSeconds),
  },
  { ...strict, description: "A guest VM's NIC: its static DHCP lease and DNS names (CloudStack dhcpentry)" },
)

/** A metadata key as guests ask for it (paths are case-insensitive, so keys are lower case). */
export const METADATA_KEY_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$'
/** The one key that may hold several values, served one per line. */
export const PUBLIC_KEYS = 'public-keys'

const MetadataValue = Type.String({ maxLength: 65536 })

export const UserDataRef = Type.Object(
  {
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the bytes, lower-case hex: the name they were stored under (PUT /v1/user-data/<sha256>)' }),
    size: Type.Integer({ minimum: 0, maximum: 1048576, description: 'Their length in bytes' }),
  },
  { ...strict, description: 'User data bytes already stored by PUT /v1/user-data/<sha256>: they never travel in the config document' },
)

export const VmData = Type.Object(
  {
    id: Id,
    network: Id,
    ip: Ipv4,
    metadata: Type.Optional(Type.Record(Type.String({ pattern: METADATA_KEY_PATTERN }), Type.Union([MetadataValue, Type.Array(MetadataValue, { maxItems: 64 })]), {
      maxProperties: 64,
      description: 'Files under /latest/meta-data/: service-offering, availability-zone, instance-id, vm-id, public-keys (a list allowed), cloud-identifier, hypervisor-host-name, cloud-domain, cloud-domain-id, cloud-name, public-hostname, or any other key. '
        + 'local-hostname, local-ipv4 and public-ipv4 default to the DHCP host name, the IP, and the static-NAT IP (else the source-NAT IP). An empty value leaves the key out',
    })),
    userData: Type.Optional(UserDataRef),
  },
  { ...strict, description: "A guest VM's metadata and user data, served only to that VM (its IP and the MAC of its dhcpHosts entry); CloudStack vmdata" },
)

export const LbAlgorithm = Type.Union([Type.Literal('roundrobin'), Type.Literal('leastconn'), Type.Literal('source')], {
  description: 'How new connections are spread: weighted round robin, fewest active connections, or client affinity (a client stays on its backend)',
})

export const LbBackend = Type.Object(
  {
    ip: Ipv4,
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: "This backend's first private port, when not the rule's privatePorts.start (the range keeps its length)" })),
    weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 256, description: 'Share of new connections (default 1); 0 drains it: no new connections, established ones finish' })),
  },
  { ...strict, description: 'A guest VM address the rule spreads connections over' },
)

export const LbStickiness = Type.Union([
  Type.Object({
    kind: Type.Literal('source'),
    timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 2147483, description: 'How long a client stays on its backend after its last new connection (default 3600)' })),
  }, { ...strict, description: 'A client (source address) keeps its backend while it keeps connecting; l4 and http/tls' }),
  Type.Object({
    kind: Type.Literal('lbCookie'),
    cookie: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'Cookie name (default SERVERID)' })),
  }, { ...strict, description: 'The load balancer sets a cookie naming the backend; mode http or tls' }),
  Type.Object({
    kind: Type.Literal('appCookie'),
    cookie: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: "The application's session cookie" }),
    timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 2147483, description: 'How long a session is remembered (default 10800)' })),
  }, { ...strict, description: "Clients presenting the application's session cookie stay on the backend that set it; mode http or tls" }),
])

export const LbHealthCheck = Type.Object(
  {
    type: Type.Union([Type.Literal('tcp'), Type.Literal('http')]),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: "Port checked (default the backend's first private port); a udp rule's check is tcp on this port" })),
    path: Type.Optional(Type.String({ pattern: '^/[\x21-\x7e]{0,1023}$', description: 'http: the path asked (default /)' })),
    expectStatus: Type.Optional(Type.Integer({ minimum: 100, maximum: 599, description: 'http: the status a healthy backend answers (default any 2xx or 3xx)' })),
    intervalSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, description: 'Between checks (default 5)' })),
    timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, description: 'A check with no answer this long fails (default 2)' })),
    rise: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Passed checks in a row that bring a backend in (default 2)' })),
    fall: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Failed checks in a row that take a backend out (default 3)' })),
  },
  { ...strict, description: 'Health check of every backend; a backend failing it gets no new connections' },
)

export const LoadBalancer = Type.Object(
  {
    id: Id,
    publicIp: Ipv4,
    protocol: ForwardProtocol,
    publicPorts: PortRange,
    privatePorts: PortRange,
    algorithm: Type.Optional(LbAlgorithm),
    backends: Type.Array(LbBackend, { maxItems: 1024 }),
    stickiness: Type.Optional(LbStickiness),
    healthCheck: Type.Optional(LbHealthCheck),
    mode: Type.Optional(Type.Union([Type.Literal('l4'), Type.Literal('http'), Type.Literal('tls')], {
      description: 'l4 (default): in the kernel, no proxy, the client address reaches the backend; http and tls: proxied by HAProxy (tcp only)',
    })),
    tls: Type.Optional(Type.Object({
      certificate: Id,
    }, { ...strict, description: 'mode tls: the certificate and key stored by PUT /v1/certificates/<id> (the key never travels in the config)' })),
    proxyProtocol: Type.Optional(Type.Boolean({ description: 'mode http or tls: send the PROXY protocol (v2) header to backends' })),
    maxConnectionsPerBackend: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000000, description: 'mode http or tls: more connections wait in HAProxy\'s queue' })),
    maxConnectionsPerClient: Type.Optional(Type.Integer({
      minimum: 1, maximum: 1000000,
      description: "mode http or tls: connections one client address may hold at once (default 1024); more are refused at accept, so one client cannot take HAProxy's connections and memory",
    })),
    sourceCidrs: Type.Optional(cidrList('Who may use the load balancer (default: everyone)')),
    sourceNat: Type.Optional(Type.Boolean({
      description: "l4: backends see the router's guest address instead of the client's, so their replies come back through the router even when this network is not on their default NIC (default false)",
    })),
  },
  { ...strict, description: "Spreads a public IP's ports over guest VMs; opens those ports" },
)

const DOCUMENT_FIELDS = {
    interfaces: Type.Array(InterfaceSpec, { maxItems: 64 }),
    publicIps: Type.Array(PublicIp, { maxItems: 4096 }),
    guestNetworks: Type.Array(GuestNetwork, { maxItems: 256 }),
    staticNats: Type.Array(StaticNat, { maxItems: 4096 }),
    portForwards: Type.Array(PortForward, { maxItems: 65536 }),
    firewallRules: Type.Array(FirewallRule, { maxItems: 65536 }),
    egressRules: Type.Array(EgressRule, { maxItems: 65536 }),
    staticRoutes: Type.Array(StaticRoute, { maxItems: 4096 }),
    dhcpHosts: Type.Array(DhcpHost, { maxItems: 16384 }),
    vmData: Type.Array(VmData, { maxItems: 16384 }),
    loadBalancers: Type.Array(LoadBalancer, { maxItems: 4096 }),
    internalSites: Type.Array(InternalSite, { maxItems: 256 }),
    ports: Type.Array(SgPort, { maxItems: 4096 }),
    securityGroups: Type.Array(SecurityGroup, { maxItems: 4096 }),
    securityGroupRules: Type.Array(SecurityGroupRule, { maxItems: 65536 }),
    defaultInterface: Type.Optional(Type.String({
      pattern: ID_PATTERN,
      description: 'Public interface holding the default route (default: the first public interface by id with a gateway)',
    })),
}

/** The whole desired state as stored and served: every collection present. */
export const RouterConfig = Type.Object(DOCUMENT_FIELDS, { ...strict, description: 'The whole desired state of the router' })

/**
 * The whole desired state as a client sends it: a collection left out is empty, so a new
 * collection (a new feature) breaks no existing client or fixture.
 */
export const RouterConfigInput = Type.Object(
  Object.fromEntries(Object.entries(DOCUMENT_FIELDS).map(([k, v]) => [k, k === 'defaultInterface' ? v : Type.Optional(v)])) as {
    [K in keyof typeof DOCUMENT_FIELDS]: K extends 'defaultInterface' ? (typeof DOCUMENT_FIELDS)[K] : ReturnType<typeof Type.Optional<(typeof DOCUMENT_FIELDS)[K]>>
  },
  { ...strict, description: 'The whole desired state of the router; a collection left out is empty' },
)

export type InterfaceSpec = Static<typeof InterfaceSpec>
export type PublicIp = Static<typeof PublicIp>
export type GuestNetwork = Static<typeof GuestNetwork>
export type StaticNat = Static<typeof StaticNat>
export type PortForward = Static<typeof PortForward>
export type FirewallRule = Static<typeof FirewallRule>
export type EgressRule = Static<typeof EgressRule>
export type StaticRoute = Static<typeof StaticRoute>
export type InternalSite = Static<typeof InternalSite>
export type RouterConfig = Static<typeof RouterConfig>
export type DhcpHost = Static<typeof DhcpHost>
export type VmData = Static<typeof VmData>
export type LoadBalancer = Static<typeof LoadBalancer>
export type LbBackend = Static<typeof LbBackend>
export type LbHealthCheck = Static<typeof LbHealthCheck>
export type UserDataRef = Static<typeof UserDataRef>
export type NetworkDhcp = Static<typeof NetworkDhcp>
export type PortRange = Static<typeof PortRange>
export type RuleProtocol = Static<typeof RuleProtocol>

/** The collections addressable by id through the item-level API. */
export const COLLECTIONS = {
  interfaces: InterfaceSpec,
  publicIps: PublicIp,
  guestNetworks: GuestNetwork,
  staticNats: StaticNat,
  portForwards: PortForward,
  firewallRules: FirewallRule,
  egressRules: EgressRule,
  staticRoutes: StaticRoute,
  dhcpHosts: DhcpHost,
  vmData: VmData,
  loadBalancers: LoadBalancer,
  internalSites: InternalSite,
  ports: SgPort,
  securityGroups: SecurityGroup,
  securityGroupRules: SecurityGroupRule,
} as const

export type CollectionName = keyof typeof COLLECTIONS
export const COLLECTION_NAMES = Object.keys(COLLECTIONS) as CollectionName[]
export type CollectionItem<C extends CollectionName> = RouterConfig[C][number]

/** The stored form of a checked input document: every collection left out becomes empty. */
export function completeConfig(input: Static<typeof RouterConfigInput>): RouterConfig {
  const config = { ...emptyConfig(), ...input } as RouterConfig
  for (const name of COLLECTION_NAMES) if (config[name] === undefined) (config as Record<CollectionName, unknown[]>)[name] = []
  return config
}

export function emptyConfig(): RouterConfig {
  return {
    interfaces: [], publicIps: [], guestNetworks: [], staticNats: [],
    portForwards: [], firewallRules: [], egressRules: [], staticRoutes: [], dhcpHosts: [], vmData: [], loadBalancers: [], internalSites: [],
    ports: [], securityGroups: [], securityGroupRules: [],
  }
}

import { lookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * Server-side request forgery guard for webhook URLs: a URL whose host is, or resolves to, a
 * loopback, private, link-local (cloud metadata included), shared, multicast or reserved address is
 * refused — at registration and again at each delivery's connection, on the very addresses the
 * connection uses (a DNS answer that changes in between cannot slip through). An operator
 * allow-list (`WEBHOOK_ALLOWED_HOSTS`: host names, addresses or CIDR ranges) lifts the refusal.
 */
const BLOCKED = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  // the former 6to4 relay anycast (RFC 7526)
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  BLOCKED.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  // IPv4-compatible (::a.b.c.d) and 6to4 (2002::/16) addresses embed an IPv4 address
  ['::', 96],
  ['2002::', 16],
  ['64:ff9b::', 96],
  // local-use NAT64 (RFC 8215), Teredo and SIIT's IPv4-translated addresses also embed IPv4
  ['64:ff9b:1::', 48],
  ['2001::', 32],
  ['::ffff:0:0:0', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  // the former site-local addresses (RFC 3879), still routed inside some networks
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  BLOCKED.addSubnet(net, prefix, 'ipv6');

export type AllowList = { hosts: Set<string>; ranges: BlockList };

export function parseAllowList(value: string | undefined): AllowList {
  const hosts = new Set<string>();
  const ranges = new BlockList();
  for (const entry of (value ?? '')
    .split(',')
    .map((e) => e.trim().toLowerCase())
    .filter(Boolean)) {
    const [address, prefix] = entry.split('/');
    const family = isIP(address!);
    if (family && prefix !== undefined)
      ranges.addSubnet(address!, Number(prefix), family === 4 ? 'ipv4' : 'ipv6');
    else if (family) ranges.addAddress(address!, family === 4 ? 'ipv4' : 'ipv6');
    else hosts.add(entry);
  }
  return { hosts, ranges };
}

/** An IPv4 address written as IPv6 (::ffff:127.0.0.1) is judged as the IPv4 address it is. */
function unmapped(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1]!, family: 'ipv4' };
  return { address, family: isIP(address) === 4 ? 'ipv4' : 'ipv6' };
}

export function addressRefused(address: string, allow: AllowList): boolean {
  const { address: a, family } = unmapped(address);
  if (allow.ranges.check(a, family)) return false;
  return BLOCKED.check(a, family);
}

const hostOf = (url: URL) => url.hostname.replace(/^\[|\]$/g, '').toLowerCase();

/** Why a URL may not receive webhooks, or undefined when it may (resolving its host name). */
export async function urlRefusal(
  raw: string,
  options: { allow: AllowList; requireHttps: boolean },
): Promise<string | undefined> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http or https URL';
  if (options.requireHttps && url.protocol !== 'https:') return 'must use https';
  if (url.username || url.password) return 'must not carry credentials';
  const host = hostOf(url);
  if (options.allow.hosts.has(host)) return undefined;
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch {
      return `its host ${host} does not resolve`;
    }
  }
  if (!addresses.some((a) => addressRefused(a, options.allow))) return undefined;
  // the address a name resolves to is not repeated: it would map the operator's internal network
  const kind = 'a loopback, private, link-local or reserved address (allow it with WEBHOOK_ALLOWED_HOSTS)';
  return isIP(host) ? `is ${kind}` : `resolves to ${kind}`;
}

/** A DNS lookup for outgoing connections that refuses blocked addresses (the delivery-time check). */
export function guardedLookup(host: string, allow: AllowList): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true, verbatim: true })
      .then((answers) => {
        const ok = allow.hosts.has(host) ? answers : answers.filter((a) => !addressRefused(a.address, allow));
        if (!ok.length) {
          const error = Object.assign(new Error(`${hostname} resolves only to refused addresses`), {
            code: 'ESSRF',
          });
          callback(error, '', 4);
          return;
        }
        if ((options as { all?: boolean }).all)
          (callback as unknown as (e: null, a: typeof ok) => void)(null, ok);
        else callback(null, ok[0]!.address, ok[0]!.family);
      })
      .catch((error: NodeJS.ErrnoException) => callback(error, '', 4));
  };
}

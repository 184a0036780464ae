// SSRF guard for user-supplied hosts and URLs (n8n base URL, custom SMTP/IMAP host,
// OpenAI-compatible base URL, outbound webhooks): a tenant must not make the server call into its
// own network — loopback, RFC 1918, link-local (the cloud metadata service at 169.254.169.254),
// CGNAT, unique-local IPv6, and the IPv4-mapped / NAT64 forms of these.
//
// The host is canonicalised by the WHATWG URL parser first, so every numeric notation
// (`2130706433`, `0x7f.1`, `0177.0.0.1`, `[::ffff:127.0.0.1]`) is checked as the address it means;
// a name is resolved with dns.lookup and *every* address it resolves to must pass.
//
// DNS rebinding: a name can resolve to a public address for this check and to a private one a
// moment later when the client connects. So the check returns the addresses it approved, and the
// caller connects to those: `pinnedLookup()` (for net/tls/http options) or `pinnedDispatcher()` (an
// undici Agent for `fetch`). A pinned connection also refuses any other host name, so a redirect
// cannot reach a host that was never checked (callers should still use `redirect: 'manual'`).
import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent } from 'undici';
import { AppError } from '../../shared/errors.ts';

export type ResolvedAddress = { address: string; family: 4 | 6 };

/** A host that passed the guard, with the addresses to connect to (never re-resolve it). */
export type CheckedHost = { hostname: string; addresses: readonly ResolvedAddress[] };
export type CheckedUrl = CheckedHost & { url: URL };

export type GuardOptions = {
  /** INTEGRATIONS_ALLOW_PRIVATE_HOSTS: loopback, RFC 1918, CGNAT and unique-local addresses pass. */
  allowPrivate: boolean;
  /** Plain `http:` URLs; defaults to `allowPrivate` (self-hosted peers on a private network). */
  allowHttp?: boolean;
  /** The input's field path for the error (`config.baseUrl`, `config.smtp.host`). */
  field?: string;
  /** Name resolution; dns.lookup with every address by default (tests pass their own). */
  resolve?: (hostname: string) => Promise<readonly ResolvedAddress[]>;
};

/**
 * Ranges ipaddr.js names that `allowPrivate` opens. Everything else but `unicast` stays refused
 * whatever the setting: link-local (metadata service), unspecified, multicast, broadcast, reserved,
 * and the IPv6 transition forms that can hide an IPv4 address (6to4, Teredo, RFC 6145).
 */
const PRIVATE_RANGES: ReadonlySet<string> = new Set(['loopback', 'private', 'carrierGradeNat', 'uniqueLocal']);

const DESCRIPTIONS: Readonly<Record<string, string>> = {
  loopback: 'a loopback address',
  private: 'a private (RFC 1918) address',
  carrierGradeNat: 'a carrier-grade NAT address',
  uniqueLocal: 'a unique-local IPv6 address',
  linkLocal: 'a link-local address (e.g. the cloud metadata service)',
  unspecified: 'the unspecified address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
};

function forbidden(field: string, message: string): AppError {
  return new AppError('INTEGRATION_URL_FORBIDDEN', `${field}: ${message}`, { issues: [{ path: field, message }] });
}

/** The range an address is in, looking through IPv4-mapped (`::ffff:a.b.c.d`) and NAT64 (`64:ff9b::/96`) forms. */
function rangeOf(address: string): string {
  let ip = ipaddr.parse(address);
  if (ip.kind() === 'ipv6') {
    const v6 = ip as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) ip = v6.toIPv4Address();
    else if (v6.match(ipaddr.IPv6.parse('64:ff9b::'), 96)) ip = ipaddr.fromByteArray(v6.toByteArray().slice(12));
  }
  return ip.range();
}

/** Why `address` is refused, or undefined when it may be connected to. */
export function refusalOf(address: string, allowPrivate: boolean): string | undefined {
  if (!ipaddr.isValid(address)) return 'not an IP address';
  const range = rangeOf(address);
  if (range === 'unicast' || (allowPrivate && PRIVATE_RANGES.has(range))) return undefined;
  return DESCRIPTIONS[range] ?? `a special-purpose address (${range})`;
}

async function lookupAll(hostname: string): Promise<readonly ResolvedAddress[]> {
  const results = await dns.promises.lookup(hostname, { all: true, order: 'verbatim' });
  return results.map((r) => ({ address: r.address, family: r.family === 6 ? 6 : 4 }));
}

/** Checks the (WHATWG-canonical) hostname of `url`: an IP literal directly, a name by every address it resolves to. */
async function checkHostname(hostname: string, field: string, options: GuardOptions): Promise<CheckedHost> {
  const literal = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  let addresses: readonly ResolvedAddress[];
  if (ipaddr.IPv6.isValid(literal) && hostname.startsWith('[')) {
    addresses = [{ address: literal, family: 6 }];
  } else if (ipaddr.IPv4.isValidFourPartDecimal(literal)) {
    addresses = [{ address: literal, family: 4 }];
  } else {
    try {
      addresses = await (options.resolve ?? lookupAll)(hostname);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw forbidden(field, `host "${hostname}" could not be resolved${code ? ` (${code})` : ''}`);
    }
    if (addresses.length === 0) throw forbidden(field, `host "${hostname}" has no address`);
  }
  for (const { address } of addresses) {
    const refusal = refusalOf(address, options.allowPrivate);
    if (refusal !== undefined) {
      throw forbidden(field, addresses.length === 1 && literal === address ? `host is ${refusal}` : `host "${hostname}" resolves to ${refusal}`);
    }
  }
  return { hostname, addresses };
}

/**
 * Checks a user-supplied URL: `https:` (or `http:` when allowed), and a host that is, or resolves
 * only to, public addresses. Answers AppError('INTEGRATION_URL_FORBIDDEN') with the field path.
 */
export async function assertPublicUrl(input: string | URL, options: GuardOptions): Promise<CheckedUrl> {
  const field = options.field ?? 'url';
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw forbidden(field, 'is not a valid URL');
  }
  const allowHttp = options.allowHttp ?? options.allowPrivate;
  if (url.protocol !== 'https:' && !(allowHttp && url.protocol === 'http:')) {
    throw forbidden(field, allowHttp ? 'must be an http or https URL' : 'must be an https URL');
  }
  return { url, ...(await checkHostname(url.hostname, field, options)) };
}

/** Checks a user-supplied bare host (an SMTP or IMAP server): a name or an IP address, no port or path. */
export async function assertPublicHost(host: string, options: GuardOptions): Promise<CheckedHost> {
  const field = options.field ?? 'host';
  const trimmed = host.trim();
  // A bare IPv6 address gets the brackets a URL needs; the URL parser then canonicalises any notation.
  const bracketed = trimmed.includes(':') && !trimmed.startsWith('[') ? `[${trimmed}]` : trimmed;
  let url: URL | undefined;
  try {
    url = new URL(`http://${bracketed}/`);
  } catch {
    url = undefined;
  }
  if (trimmed === '' || url === undefined || url.port !== '' || url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    throw forbidden(field, 'must be a host name or an IP address (no port, path or credentials)');
  }
  return checkHostname(url.hostname, field, options);
}

/**
 * A `lookup` for net/tls/http options that answers the checked addresses and nothing else: the
 * connection goes where the guard looked, whatever DNS says by then, and to no other host.
 */
export function pinnedLookup(checked: CheckedHost): LookupFunction {
  const hostname = checked.hostname.toLowerCase();
  return (name, options, callback) => {
    if (name.toLowerCase() !== hostname) {
      const error: NodeJS.ErrnoException = new Error(`refusing to resolve "${name}": this connection is pinned to the checked host "${hostname}"`);
      error.code = 'ENOTFOUND';
      callback(error, '');
      return;
    }
    const family = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : undefined;
    const addresses = checked.addresses.filter((a) => family === undefined || a.family === family);
    const first = addresses[0];
    if (first === undefined) {
      const error: NodeJS.ErrnoException = new Error(`"${name}" has no checked IPv${family} address`);
      error.code = 'ENOTFOUND';
      callback(error, '');
    } else if (options.all) {
      callback(null, addresses.map((a) => ({ address: a.address, family: a.family })));
    } else {
      callback(null, first.address, first.family);
    }
  };
}

/**
 * An undici Agent whose connections use `pinnedLookup(checked)`: use it with undici's `fetch`
 * (`fetch(url, { dispatcher, redirect: 'manual' })`) and `close()` it when done. TLS still
 * verifies the certificate against the host name.
 */
export function pinnedDispatcher(checked: CheckedHost, options: { connectTimeoutMs?: number } = {}): Agent {
  return new Agent({ connect: { lookup: pinnedLookup(checked), ...(options.connectTimeoutMs !== undefined ? { timeout: options.connectTimeoutMs } : {}) } });
}

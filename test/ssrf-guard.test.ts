// The SSRF guard for user-supplied integration hosts: every internal range is refused, in every
// notation, unless INTEGRATIONS_ALLOW_PRIVATE_HOSTS says so; connections go to the checked address.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fetch } from 'undici';
import { AppError } from '../shared/errors.ts';
import { assertPublicHost, assertPublicUrl, pinnedDispatcher, pinnedLookup, type GuardOptions, type ResolvedAddress } from '../server/integrations/ssrf-guard.ts';

const strict: GuardOptions = { allowPrivate: false };

/** A resolver that answers `addresses` for any name (no DNS needed). */
const resolvesTo = (...addresses: string[]) => async (): Promise<ResolvedAddress[]> =>
  addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

async function refusal(check: Promise<unknown>): Promise<{ code: string; message: string; path: string | undefined }> {
  try {
    await check;
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    return { code: error.code, message: error.message, path: error.details?.issues?.[0]?.path };
  }
  throw new Error('expected the guard to refuse');
}

describe('assertPublicUrl', () => {
  it.each([
    ['loopback', 'https://127.0.0.1/', /loopback/],
    ['loopback, elsewhere in 127/8', 'https://127.8.9.10/', /loopback/],
    ['IPv6 loopback', 'https://[::1]/', /loopback/],
    ['RFC 1918 10/8', 'https://10.1.2.3/', /private/],
    ['RFC 1918 172.16/12', 'https://172.31.255.1/', /private/],
    ['RFC 1918 192.168/16', 'https://192.168.0.10/', /private/],
    ['link-local: the metadata service', 'https://169.254.169.254/latest/meta-data/', /link-local/],
    ['IPv6 link-local', 'https://[fe80::1]/', /link-local/],
    ['CGNAT', 'https://100.64.0.1/', /carrier-grade NAT/],
    ['unique-local IPv6', 'https://[fd12:3456::1]/', /unique-local/],
    ['IPv4-mapped loopback', 'https://[::ffff:127.0.0.1]/', /loopback/],
    ['IPv4-mapped private', 'https://[::ffff:10.0.0.1]/', /private/],
    ['IPv4-mapped metadata service', 'https://[::ffff:169.254.169.254]/', /link-local/],
    ['NAT64 of a private address', 'https://[64:ff9b::10.0.0.1]/', /private/],
    ['6to4 (may hide an IPv4 address)', 'https://[2002:7f00:1::1]/', /special-purpose/],
    ['0.0.0.0', 'https://0.0.0.0/', /unspecified/],
    ['0 (0.0.0.0 in short form)', 'https://0/', /unspecified/],
    ['IPv6 unspecified', 'https://[::]/', /unspecified/],
    ['IPv4 multicast', 'https://224.0.0.1/', /multicast/],
    ['IPv6 multicast', 'https://[ff02::1]/', /multicast/],
    ['broadcast', 'https://255.255.255.255/', /broadcast/],
    ['decimal notation of 127.0.0.1', 'https://2130706433/', /loopback/],
    ['hex notation', 'https://0x7f.1/', /loopback/],
    ['octal notation', 'https://0177.0.0.1/', /loopback/],
    ['short notation of 10.0.0.1', 'https://10.1/', /private/],
  ])('refuses %s (%s)', async (_name, url, why) => {
    const result = await refusal(assertPublicUrl(url, { ...strict, field: 'config.baseUrl' }));
    expect(result).toEqual({ code: 'INTEGRATION_URL_FORBIDDEN', message: expect.stringMatching(why), path: 'config.baseUrl' });
  });

  it('refuses http://2130706433/ and http://[::ffff:127.0.0.1]/ even when http is allowed', async () => {
    for (const url of ['http://2130706433/', 'http://[::ffff:127.0.0.1]/']) {
      expect(await refusal(assertPublicUrl(url, { ...strict, allowHttp: true }))).toMatchObject({ code: 'INTEGRATION_URL_FORBIDDEN', message: /loopback/ });
    }
  });

  it('refuses a name that resolves to loopback (localhost), and one that resolves to any internal address', async () => {
    expect(await refusal(assertPublicUrl('https://localhost:5678/api/v1', strict))).toMatchObject({ message: /"localhost" resolves to a loopback address/, path: 'url' });
    expect(await refusal(assertPublicUrl('https://LOCALHOST./', strict))).toMatchObject({ message: /loopback/ });
    // One public and one internal address: the client could connect to either, so it is refused.
    const mixed = { ...strict, resolve: resolvesTo('93.184.215.14', '10.0.0.7') };
    expect(await refusal(assertPublicUrl('https://n8n.example.com/', mixed))).toMatchObject({ message: /"n8n.example.com" resolves to a private/ });
    expect(await refusal(assertPublicUrl('https://nx.example.com/', { ...strict, resolve: resolvesTo() }))).toMatchObject({ message: /has no address/ });
    const failing = { ...strict, resolve: () => Promise.reject(Object.assign(new Error('nope'), { code: 'ENOTFOUND' })) };
    expect(await refusal(assertPublicUrl('https://nx.example.com/', failing))).toMatchObject({ message: /could not be resolved \(ENOTFOUND\)/ });
  });

  it('allows https only, and http when allowed', async () => {
    expect(await refusal(assertPublicUrl('http://93.184.215.14/', strict))).toMatchObject({ message: /must be an https URL/ });
    expect(await refusal(assertPublicUrl('ftp://93.184.215.14/', { ...strict, allowHttp: true }))).toMatchObject({ message: /http or https/ });
    expect(await refusal(assertPublicUrl('file:///etc/passwd', strict))).toMatchObject({ code: 'INTEGRATION_URL_FORBIDDEN' });
    expect(await refusal(assertPublicUrl('not a url', strict))).toMatchObject({ message: /not a valid URL/ });
    await expect(assertPublicUrl('http://93.184.215.14/', { ...strict, allowHttp: true })).resolves.toMatchObject({ hostname: '93.184.215.14' });
  });

  it('passes public addresses and names, returning the addresses to connect to', async () => {
    await expect(assertPublicUrl('https://93.184.215.14/x', strict)).resolves.toMatchObject({ addresses: [{ address: '93.184.215.14', family: 4 }] });
    await expect(assertPublicUrl('https://[2606:4700::1111]/', strict)).resolves.toMatchObject({ addresses: [{ address: '2606:4700::1111', family: 6 }] });
    const checked = await assertPublicUrl('https://api.openai-compatible.example/v1', { ...strict, resolve: resolvesTo('93.184.215.14', '2606:4700::1111') });
    expect(checked.url.pathname).toBe('/v1');
    expect(checked.addresses.map((a) => a.address)).toEqual(['93.184.215.14', '2606:4700::1111']);
  });

  it('lets INTEGRATIONS_ALLOW_PRIVATE_HOSTS=true through to private peers, still not to link-local or unspecified', async () => {
    const open: GuardOptions = { allowPrivate: true };
    for (const url of ['http://127.0.0.1:5678/', 'http://localhost/', 'http://10.0.0.1/', 'https://192.168.1.1/', 'http://100.64.0.1/', 'http://[fd00::1]/', 'http://[::ffff:127.0.0.1]/', 'http://2130706433/']) {
      await expect(assertPublicUrl(url, open)).resolves.toMatchObject({ addresses: expect.any(Array) });
    }
    expect(await refusal(assertPublicUrl('http://169.254.169.254/', open))).toMatchObject({ message: /link-local/ });
    expect(await refusal(assertPublicUrl('http://0.0.0.0/', open))).toMatchObject({ message: /unspecified/ });
  });
});

describe('assertPublicHost (SMTP and IMAP servers)', () => {
  it('checks a bare name or address in any notation', async () => {
    const field = 'config.smtp.host';
    expect(await refusal(assertPublicHost('127.0.0.1', { ...strict, field }))).toMatchObject({ message: /loopback/, path: field });
    expect(await refusal(assertPublicHost('2130706433', strict))).toMatchObject({ message: /loopback/, path: 'host' });
    expect(await refusal(assertPublicHost('::ffff:192.168.0.1', strict))).toMatchObject({ message: /private/ });
    expect(await refusal(assertPublicHost('[::1]', strict))).toMatchObject({ message: /loopback/ });
    expect(await refusal(assertPublicHost('localhost', strict))).toMatchObject({ message: /loopback/ });
    await expect(assertPublicHost('smtp.example.com', { ...strict, resolve: resolvesTo('93.184.215.14') })).resolves.toEqual({
      hostname: 'smtp.example.com',
      addresses: [{ address: '93.184.215.14', family: 4 }],
    });
    await expect(assertPublicHost('127.0.0.1', { allowPrivate: true })).resolves.toMatchObject({ hostname: '127.0.0.1' });
  });

  it('refuses anything but a host: ports, paths, credentials, blanks', async () => {
    for (const host of ['smtp.example.com:25', 'smtp.example.com/x', 'user@smtp.example.com', '', 'a b', 'smtp.example.com?x']) {
      expect(await refusal(assertPublicHost(host, strict))).toMatchObject({ code: 'INTEGRATION_URL_FORBIDDEN', message: /host name or an IP address/ });
    }
  });
});

describe('pinned connections (DNS rebinding)', () => {
  let server: http.Server;
  let port: number;

  beforeAll(async () => {
    server = http.createServer((req, res) => res.end(`hello ${req.headers.host}`));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('connects to the address that was checked, whatever the name resolves to later', async () => {
    // `peer.invalid` has no DNS record at all: the request can only succeed through the pinned address.
    const checked = await assertPublicUrl(`http://peer.invalid:${port}/`, { allowPrivate: true, resolve: resolvesTo('127.0.0.1') });
    const dispatcher = pinnedDispatcher(checked);
    try {
      const response = await fetch(checked.url, { dispatcher, redirect: 'manual' });
      expect(await response.text()).toBe(`hello peer.invalid:${port}`);
      // The pinned agent refuses to resolve any other name (a redirect elsewhere, say).
      await expect(fetch(`http://other.invalid:${port}/`, { dispatcher })).rejects.toThrow();
    } finally {
      await dispatcher.close();
    }
  });

  it('answers lookups with the checked addresses only, by family', async () => {
    const lookup = pinnedLookup({ hostname: 'api.example.com', addresses: [{ address: '93.184.215.14', family: 4 }, { address: '2606:4700::1111', family: 6 }] });
    const ask = (name: string, options: Parameters<typeof lookup>[1]) =>
      new Promise<unknown>((resolve, reject) => lookup(name, options, (error, address, family) => (error ? reject(error) : resolve({ address, family }))));
    await expect(ask('api.example.com', {})).resolves.toEqual({ address: '93.184.215.14', family: 4 });
    await expect(ask('API.example.com', { family: 6 })).resolves.toEqual({ address: '2606:4700::1111', family: 6 });
    await expect(ask('api.example.com', { all: true })).resolves.toEqual({
      address: [
        { address: '93.184.215.14', family: 4 },
        { address: '2606:4700::1111', family: 6 },
      ],
      family: undefined,
    });
    await expect(ask('metadata.google.internal', {})).rejects.toThrow(/pinned to the checked host/);
  });
});

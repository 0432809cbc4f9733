import { describe, expect, it } from 'vitest';
import { addressRefused, parseAllowList, urlRefusal } from './webhooks.guard.ts';

const none = parseAllowList(undefined);

describe('the SSRF guard', () => {
  it.each([
    ['127.0.0.1', true],
    ['10.1.2.3', true],
    ['172.20.0.1', true],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['0.0.0.0', true],
    ['224.0.0.1', true],
    ['::1', true],
    ['fd00::1', true],
    ['fe80::1', true],
    ['::ffff:10.0.0.1', true],
    ['::7f00:1', true],
    ['2002:7f00:1::1', true],
    ['64:ff9b:1::a00:1', true],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', true],
    ['::ffff:0:a00:1', true],
    ['192.88.99.1', true],
    ['fec0::1', true],
    ['93.184.216.34', false],
    ['2606:4700:4700::1111', false],
  ])('%s refused: %s', (address, refused) => {
    expect(addressRefused(address, none)).toBe(refused);
  });

  it('an allow-list of addresses, ranges and host names lifts the refusal for those only', async () => {
    const allow = parseAllowList('127.0.0.1, 10.0.0.0/8, hooks.internal');
    expect(addressRefused('127.0.0.1', allow)).toBe(false);
    expect(addressRefused('10.9.9.9', allow)).toBe(false);
    expect(addressRefused('127.0.0.2', allow)).toBe(true);
    expect(await urlRefusal('http://hooks.internal/x', { allow, requireHttps: false })).toBeUndefined();
  });

  it('requires https when asked (production), and refuses credentials and other schemes', async () => {
    const options = { allow: none, requireHttps: true };
    expect(await urlRefusal('http://93.184.216.34/x', options)).toBe('must use https');
    expect(await urlRefusal('https://93.184.216.34/x', options)).toBeUndefined();
    expect(await urlRefusal('https://user:pw@93.184.216.34/x', options)).toBe('must not carry credentials');
    expect(await urlRefusal('file:///etc/passwd', options)).toBe('must be an http or https URL');
    expect(await urlRefusal('not a url', options)).toBe('is not a URL');
    // a name that resolves inside: refused without saying to what (that would map the network)
    const inside = await urlRefusal('https://localhost:8443/x', options);
    expect(inside).toMatch(/^resolves to a loopback, private/);
    expect(inside).not.toMatch(/127\.0\.0\.1|::1/);
    expect(await urlRefusal('https://10.1.2.3/x', options)).toMatch(/^is a loopback, private/);
  });
});

import { isIP } from "node:net";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ipInRange, parseIp, parseIpRange } from "./ip-address.js";

const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString("hex") : undefined);

describe("parseIp", () => {
  it.each([
    ["192.0.2.1", "00000000000000000000ffffc0000201"],
    ["0.0.0.0", "00000000000000000000ffff00000000"],
    ["255.255.255.255", "00000000000000000000ffffffffffff"],
    ["::", "00000000000000000000000000000000"],
    ["::1", "00000000000000000000000000000001"],
    ["1::", "00010000000000000000000000000000"],
    ["2001:db8::8:800:200c:417a", "20010db80000000000080800200c417a"],
    ["2001:DB8:0:0:8:800:200C:417A", "20010db80000000000080800200c417a"],
    ["::ffff:192.0.2.1", "00000000000000000000ffffc0000201"],
    ["64:ff9b::192.0.2.33", "0064ff9b0000000000000000c0000221"],
  ])("parses %s", (text, bytes) => {
    expect(hex(parseIp(text))).toBe(bytes);
  });

  it.each([
    "",
    "1.2.3",
    "1.2.3.4.5",
    "256.0.0.1",
    "01.2.3.4",
    "1.2.3.4 ",
    "a.b.c.d",
    ":::",
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    "12345::",
    "::g",
    "1:2:3:4:5:6:7::8",
    ":1::",
    "::1.2.3",
    "fe80::1%eth0",
    "[::1]",
    `${"0:".repeat(40)}0`,
  ])("refuses %j", (text) => {
    expect(parseIp(text)).toBeUndefined();
  });

  it("agrees with node:net on which strings are addresses", () => {
    const piece = fc.constantFrom(
      "0",
      "1",
      "ff",
      "ffff",
      "10000",
      "255",
      "256",
      "01",
      ":",
      "::",
      ".",
      "g",
      "",
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (parts) => {
        const text = parts.join("");
        expect(parseIp(text) !== undefined, text).toBe(isIP(text) !== 0);
      }),
      { numRuns: 3000 },
    );
  });
});

describe("parseIpRange and ipInRange", () => {
  const inRange = (range: string, address: string) => ipInRange(parseIp(address)!, parseIpRange(range)!);

  it("matches IPv4 ranges bit by bit at the prefix boundary", () => {
    expect(inRange("192.0.2.64/26", "192.0.2.64")).toBe(true);
    expect(inRange("192.0.2.64/26", "192.0.2.127")).toBe(true);
    expect(inRange("192.0.2.64/26", "192.0.2.63")).toBe(false);
    expect(inRange("192.0.2.64/26", "192.0.2.128")).toBe(false);
    expect(inRange("0.0.0.0/0", "203.0.113.1")).toBe(true);
    expect(inRange("203.0.113.1", "203.0.113.1")).toBe(true);
    expect(inRange("203.0.113.1/32", "203.0.113.2")).toBe(false);
  });

  it("keeps IPv4 ranges apart from IPv6 addresses other than the IPv4-mapped ones", () => {
    expect(inRange("0.0.0.0/0", "::ffff:10.0.0.1")).toBe(true);
    expect(inRange("0.0.0.0/0", "::1")).toBe(false);
    expect(inRange("0.0.0.0/0", "::10.0.0.1")).toBe(false);
    expect(inRange("::/0", "10.0.0.1")).toBe(true);
  });

  it("matches IPv6 ranges at odd prefixes", () => {
    expect(inRange("2001:db8::/33", "2001:db8:7fff::1")).toBe(true);
    expect(inRange("2001:db8::/33", "2001:db8:8000::1")).toBe(false);
    expect(inRange("::1/128", "::1")).toBe(true);
    expect(inRange("::1/128", "::2")).toBe(false);
  });

  it("clears host bits below the prefix", () => {
    expect(hex(parseIpRange("10.9.9.9/8")?.network)).toBe(hex(parseIpRange("10.0.0.0/8")?.network));
    expect(parseIpRange("10.9.9.9/8")?.prefix).toBe(104);
  });

  it.each([
    "10.0.0.0/33",
    "10.0.0.0/",
    "10.0.0.0/-1",
    "10.0.0.0/8/8",
    "10.0.0.0/08a",
    "::/129",
    "10/8",
    "/8",
  ])("refuses %j", (text) => {
    expect(parseIpRange(text)).toBeUndefined();
  });

  it("agrees with a numeric reference for random IPv4 addresses and ranges", () => {
    const toNumber = (a: number[]) => ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0;
    const octets = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 });
    fc.assert(
      fc.property(octets, octets, fc.integer({ min: 0, max: 32 }), (net, addr, bits) => {
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        const expected = (toNumber(net) & mask) >>> 0 === (toNumber(addr) & mask) >>> 0;
        expect(inRange(`${net.join(".")}/${bits}`, addr.join("."))).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});

// IP addresses and CIDR ranges for the IpAddress and NotIpAddress condition operators (aws:SourceIp).
//
// Every address is held as 16 bytes: an IPv4 address as its IPv4-mapped IPv6 form (::ffff:a.b.c.d), so that an
// IPv4 range also matches a client that a dual-stack socket reports as ::ffff:127.0.0.1.

/** An address range: the network's 16 bytes (host bits cleared) and its prefix length out of 128. */
export interface IpRange {
  readonly network: Uint8Array;
  readonly prefix: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEXTET = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4(text: string, into: Uint8Array, at: number): boolean {
  const m = IPV4.exec(text);
  if (!m) return false;
  for (let i = 0; i < 4; i++) {
    const part = m[i + 1]!;
    // "010" is octal to some parsers and decimal to others: refused, as Node's net.isIPv4 does.
    if (part.length > 1 && part[0] === "0") return false;
    const n = Number(part);
    if (n > 255) return false;
    into[at + i] = n;
  }
  return true;
}

function parseIpv6(text: string): Uint8Array | undefined {
  const out = new Uint8Array(16);
  // A trailing dotted quad (::ffff:192.0.2.1) stands for the last two groups: parsed apart, then put in place.
  let hexText = text;
  let v4: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".", lastColon)) {
    v4 = new Uint8Array(4);
    if (!parseIpv4(text.slice(lastColon + 1), v4, 0)) return undefined;
    hexText = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = hexText.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] === "" ? [] : halves[0]!.split(":");
  const tail = halves.length === 1 || halves[1] === "" ? [] : halves[1]!.split(":");
  if (halves.length === 1 ? head.length !== 8 : head.length + tail.length > 7) return undefined;
  const groups = [...head, ...Array<string>(8 - head.length - tail.length).fill("0"), ...tail];
  for (let i = 0; i < 8; i++) {
    const g = groups[i]!;
    if (!HEXTET.test(g)) return undefined;
    const n = Number.parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  }
  if (v4) out.set(v4, 12);
  return out;
}

/**
 * Parses an IPv4 or IPv6 address (no zone id, no brackets) into 16 bytes, IPv4 as ::ffff:a.b.c.d.
 * Returns undefined for anything else.
 */
export function parseIp(text: string): Uint8Array | undefined {
  if (text.length > 45) return undefined;
  if (text.includes(":")) return parseIpv6(text);
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  return parseIpv4(text, out, 12) ? out : undefined;
}

/**
 * Parses a range as IAM's IpAddress operator takes it: `203.0.113.0/24`, `2001:db8::/32`, or a single address
 * (a /32 or /128). Host bits set below the prefix are ignored (`203.0.113.7/24` is `203.0.113.0/24`).
 * Returns undefined for anything else.
 */
export function parseIpRange(text: string): IpRange | undefined {
  const slash = text.indexOf("/");
  const address = slash < 0 ? text : text.slice(0, slash);
  const network = parseIp(address);
  if (!network) return undefined;
  const isV4 = !address.includes(":");
  const max = isV4 ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return undefined;
    bits = Number(p);
    if (bits > max) return undefined;
  }
  const prefix = isV4 ? bits + 96 : bits;
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i));
    network[i] = network[i]! & ((0xff00 >> keep) & 0xff);
  }
  return { network, prefix };
}

/** Whether a parsed address lies in a range. */
export function ipInRange(address: Uint8Array, range: IpRange): boolean {
  const whole = range.prefix >> 3;
  for (let i = 0; i < whole; i++) if (address[i] !== range.network[i]) return false;
  const rest = range.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff00 >> rest) & 0xff;
  return (address[whole]! & mask) === range.network[whole];
}

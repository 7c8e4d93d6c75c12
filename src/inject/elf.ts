import { closeSync, openSync, readSync } from 'node:fs';

/**
 * What `close-stress inject` needs to know about a program file: whether a
 * preload library can reach it (a dynamic loader named in PT_INTERP), whether
 * it is Go (whose net package makes raw system calls), and its function
 * symbols, to name a call site from a return address.
 */
export interface ElfFile {
  kind: 'elf';
  type: 'exec' | 'dyn' | 'other';
  /** PT_INTERP: the dynamic loader, which is what reads LD_PRELOAD. */
  interp?: string;
  dynamic: boolean;
  go: boolean;
  /** Lowest PT_LOAD address: a module's load base maps to it. */
  firstLoad: bigint;
}

export type ProgramFile = ElfFile | { kind: 'script'; interpreter: string; args: string[] } | { kind: 'other' };

interface FuncSymbol {
  name: string;
  start: bigint;
  end: bigint;
}

class Reader {
  private readonly fd: number;
  constructor(file: string) {
    this.fd = openSync(file, 'r');
  }
  bytes(offset: bigint | number, length: number): Buffer {
    const buf = Buffer.alloc(length);
    const n = readSync(this.fd, buf, 0, length, Number(offset));
    return buf.subarray(0, n);
  }
  close(): void {
    closeSync(this.fd);
  }
}

interface Header {
  is64: boolean;
  le: boolean;
  type: number;
  phoff: bigint;
  phentsize: number;
  phnum: number;
  shoff: bigint;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

function header(r: Reader): Header | undefined {
  const h = r.bytes(0, 64);
  if (h.length < 52 || h.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const is64 = h[4] === 2;
  const le = h[5] === 1;
  if (h.length < (is64 ? 64 : 52)) return undefined;
  const u16 = (o: number) => (le ? h.readUInt16LE(o) : h.readUInt16BE(o));
  const u32 = (o: number) => (le ? h.readUInt32LE(o) : h.readUInt32BE(o));
  const u64 = (o: number) => (le ? h.readBigUInt64LE(o) : h.readBigUInt64BE(o));
  return is64
    ? { is64, le, type: u16(16), phoff: u64(32), shoff: u64(40), phentsize: u16(54), phnum: u16(56), shentsize: u16(58), shnum: u16(60), shstrndx: u16(62) }
    : { is64, le, type: u16(16), phoff: BigInt(u32(28)), shoff: BigInt(u32(32)), phentsize: u16(42), phnum: u16(44), shentsize: u16(46), shnum: u16(48), shstrndx: u16(50) };
}

function fields(buf: Buffer, h: Header) {
  return {
    u32: (o: number) => (h.le ? buf.readUInt32LE(o) : buf.readUInt32BE(o)),
    word: (o64: number, o32: number) => h.is64
      ? (h.le ? buf.readBigUInt64LE(o64) : buf.readBigUInt64BE(o64))
      : BigInt(h.le ? buf.readUInt32LE(o32) : buf.readUInt32BE(o32)),
  };
}

interface Section { name: string; type: number; offset: bigint; size: bigint; link: number; entsize: bigint; addr: bigint }

function sections(r: Reader, h: Header): Section[] {
  if (h.shoff === 0n || h.shnum === 0) return [];
  const table = r.bytes(h.shoff, h.shentsize * h.shnum);
  const raw = [];
  for (let i = 0; i < h.shnum; i++) {
    const s = table.subarray(i * h.shentsize, (i + 1) * h.shentsize);
    if (s.length < h.shentsize) break;
    const f = fields(s, h);
    raw.push({
      nameAt: f.u32(0), type: f.u32(4), addr: f.word(16, 12), offset: f.word(24, 16), size: f.word(32, 20),
      link: f.u32(h.is64 ? 40 : 24), entsize: f.word(56, 36),
    });
  }
  const strtab = raw[h.shstrndx];
  const names = strtab ? r.bytes(strtab.offset, Number(strtab.size)) : Buffer.alloc(0);
  return raw.map((s) => ({ ...s, name: cString(names, s.nameAt) }));
}

function cString(buf: Buffer, at: number): string {
  const end = buf.indexOf(0, at);
  return buf.toString('latin1', at, end < 0 ? buf.length : end);
}

/** The program file as the kernel would run it: an ELF, a `#!` script, or neither. */
export function readProgram(file: string): ProgramFile {
  const r = new Reader(file);
  try {
    const start = r.bytes(0, 256);
    if (start.subarray(0, 2).toString('latin1') === '#!') {
      const line = start.toString('latin1', 2, start.indexOf(10) < 0 ? start.length : start.indexOf(10)).trim();
      const [interpreter = '', ...args] = line.split(/\s+/);
      return { kind: 'script', interpreter, args };
    }
    const h = header(r);
    if (!h) return { kind: 'other' };
    let interp: string | undefined;
    let dynamic = false;
    let firstLoad: bigint | undefined;
    const table = r.bytes(h.phoff, h.phentsize * h.phnum);
    for (let i = 0; i < h.phnum; i++) {
      const p = table.subarray(i * h.phentsize, (i + 1) * h.phentsize);
      if (p.length < h.phentsize) break;
      const f = fields(p, h);
      const type = f.u32(0);
      const offset = f.word(8, 4);
      const vaddr = f.word(16, 8);
      const filesz = f.word(32, 16);
      if (type === 1 && (firstLoad === undefined || vaddr < firstLoad)) firstLoad = vaddr; // PT_LOAD
      if (type === 2) dynamic = true; // PT_DYNAMIC
      if (type === 3) interp = cString(r.bytes(offset, Number(filesz)), 0); // PT_INTERP
    }
    const names = new Set(sections(r, h).map((s) => s.name));
    return {
      kind: 'elf',
      type: h.type === 2 ? 'exec' : h.type === 3 ? 'dyn' : 'other',
      ...(interp !== undefined && { interp }),
      dynamic,
      go: names.has('.go.buildinfo') || names.has('.note.go.buildid'),
      firstLoad: (firstLoad ?? 0n) & ~0xfffn,
    };
  } finally {
    r.close();
  }
}

/** Function symbols of an ELF file (.symtab, else .dynsym), sorted by address. */
export function functionSymbols(file: string): FuncSymbol[] {
  const r = new Reader(file);
  try {
    const h = header(r);
    if (!h) return [];
    const all = sections(r, h);
    const table = all.find((s) => s.type === 2) ?? all.find((s) => s.type === 11); // SHT_SYMTAB, SHT_DYNSYM
    const strings = table ? all[table.link] : undefined;
    if (!table || !strings) return [];
    const data = r.bytes(table.offset, Number(table.size));
    const names = r.bytes(strings.offset, Number(strings.size));
    const size = h.is64 ? 24 : 16;
    const out: FuncSymbol[] = [];
    for (let at = 0; at + size <= data.length; at += size) {
      const s = data.subarray(at, at + size);
      const f = fields(s, h);
      const info = h.is64 ? s[4]! : s[12]!;
      if ((info & 0xf) !== 2) continue; // STT_FUNC
      const value = h.is64 ? f.word(8, 0) : BigInt(f.u32(4));
      const length = h.is64 ? f.word(16, 0) : BigInt(f.u32(8));
      if (value === 0n) continue;
      out.push({ name: cString(names, f.u32(0)), start: value, end: value + (length > 0n ? length : 1n) });
    }
    return out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  } catch {
    return [];
  } finally {
    r.close();
  }
}

/** The function containing `address` (a link-time address of the file), if any. */
export function symbolAt(symbols: FuncSymbol[], address: bigint): { name: string; offset: bigint } | undefined {
  let lo = 0;
  let hi = symbols.length - 1;
  let found: FuncSymbol | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = symbols[mid]!;
    if (s.start <= address) {
      found = s;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found && address < found.end ? { name: found.name, offset: address - found.start } : undefined;
}

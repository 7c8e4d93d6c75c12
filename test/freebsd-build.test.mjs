// The FreeBSD code paths are real code: with a FreeBSD sysroot at hand, native/
// cross-compiles (as the addon's objects and as close-stress-core) and links.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { root, tempDir } from './helpers/cli.mjs';

const sysroot = process.env.FREEBSD_SYSROOT || '/opt/freebsd13-sysroot';
const script = path.join(root, 'scripts', 'check-freebsd-build');
const has = (cmd, arg = '--version') => spawnSync(cmd, [arg]).status === 0;

function why() {
  if (!existsSync(path.join(sysroot, 'usr', 'include'))) {
    return `no FreeBSD sysroot at ${sysroot} (set FREEBSD_SYSROOT; see scripts/check-freebsd-build)`;
  }
  for (const tool of ['clang', 'ld.lld', 'file']) if (!has(tool)) return `${tool} is not installed (apt-get install -y clang lld file)`;
  return false;
}

test('native/ cross-compiles for FreeBSD: addon objects, a .node shared object and a dynamic close-stress-core', { skip: why() }, (t) => {
  const out = tempDir(t);
  const r = spawnSync(script, [sysroot], { encoding: 'utf8', env: { ...process.env, OUT_DIR: out }, timeout: 120_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /close_stress\.node: ELF 64-bit LSB shared object, .*\(FreeBSD\)/);
  assert.match(r.stdout, /close-stress-core: ELF 64-bit LSB executable, .*\(FreeBSD\), dynamically linked, interpreter \/libexec\/ld-elf\.so\.1/);
  for (const f of ['binding', 'core', 'os', 'errnames', 'counters']) {
    assert.match(r.stdout, new RegExp(`addon/${f}\\.o: +ELF 64-bit LSB relocatable, .*\\(FreeBSD\\)`));
  }
});

test('without a sysroot the FreeBSD build check says it skipped, and how to get one', () => {
  const env = { ...process.env };
  delete env.FREEBSD_SYSROOT;
  const r = spawnSync(script, [], { encoding: 'utf8', env });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^skipped: no FreeBSD sysroot given/);
  assert.match(r.stdout, /base\.txz/);
});

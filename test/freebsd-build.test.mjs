// The FreeBSD code paths are real code: with a FreeBSD sysroot at hand, native/
// cross-compiles (as the addon's objects and as close-stress-core) and links.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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
  assert.match(r.stdout, /close_stress\.node: +ELF 64-bit LSB shared object, .*\(FreeBSD\)/);
  assert.match(r.stdout, /close-stress-core: +ELF 64-bit LSB executable, .*\(FreeBSD\), dynamically linked, interpreter \/libexec\/ld-elf\.so\.1/);
  for (const f of ['binding', 'binding-remote', 'remote', 'core', 'os', 'errnames', 'counters', 'layout', 'plan']) {
    assert.match(r.stdout, new RegExp(`addon/${f}\\.o: +ELF 64-bit LSB relocatable, .*\\(FreeBSD\\)`));
  }
  // OUT_DIR is where the binaries are, each named by its full path.
  for (const bin of ['close-stress-core', 'close_stress.node']) {
    assert.match(r.stdout, new RegExp(`^  ${path.join(out, bin).replaceAll('.', '\\.')}$`, 'm'));
    assert.ok(existsSync(path.join(out, bin)));
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

test('close-stress-core builds for FreeBSD from one plain cc command line (the README\'s), here cross-compiled', { skip: why() }, (t) => {
  const out = path.join(tempDir(t), 'close-stress-core');
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const line = /^ *(cc -std=gnu11 .*-o close-stress-core.*)$/m.exec(readme)?.[1];
  assert.ok(line, 'the README gives the cc command line');
  const args = line.split(/\s+/).slice(1).map((a) => (a === 'close-stress-core' ? out : a));
  const sources = args.filter((a) => a.endsWith('.c'));
  const gyp = JSON.parse(readFileSync(path.join(root, 'native', 'binding.gyp'), 'utf8'));
  assert.deepEqual(sources, gyp.targets.find((x) => x.target_name === 'close-stress-core').sources.map((s) => `native/${s}`), 'the same sources as binding.gyp');
  const r = spawnSync('clang', [`--target=x86_64-unknown-freebsd13`, `--sysroot=${sysroot}`, '-fuse-ld=lld', ...args], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(spawnSync('file', [out], { encoding: 'utf8' }).stdout, /ELF 64-bit LSB executable, .*\(FreeBSD\), dynamically linked/);
});

#!/usr/bin/env node
// npm pack / npm publish run this (the "prepack" script): the tarball carries
// prebuilt binaries so that installing it needs no compiler and no install
// script (npm 11 asks for --allow-scripts; a strict policy skips them).
//
//   native/prebuilds/<platform>-<arch>/close-stress.<libc>.node   the N-API addon (prebuildify)
//   native/prebuilds/<platform>-<arch>/close-stress-core          the standalone program
//
// node-gyp-build picks the addon at run time by platform, arch and libc tag,
// the layout well-kept native packages use. With FREEBSD_SYSROOT set, the
// FreeBSD cross-build (scripts/check-freebsd-build) adds freebsd-x64.
// dist/ is rebuilt from src/ so that no module left from an older tree is
// packed. Nothing here is committed: postpack removes native/prebuilds.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const prebuilds = path.join(root, 'native', 'prebuilds');
const require = createRequire(import.meta.url);

function fail(message) {
  process.stderr.write(`prepack: ${message}\n`);
  process.exit(1);
}

function run(cmd, args, options = {}) {
  // stdout belongs to npm (npm pack --json): the builds' chatter goes to stderr.
  const r = spawnSync(cmd, args, { stdio: ['ignore', 2, 2], ...options });
  if (r.error) fail(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
}

if (process.argv[2] === '--clean') {
  rmSync(prebuilds, { recursive: true, force: true });
  process.exit(0);
}

rmSync(path.join(root, 'dist'), { recursive: true, force: true });
run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')]);

rmSync(prebuilds, { recursive: true, force: true });
// Built in a copy so the developer's native/build (what the tests load) is left alone.
const work = mkdtempSync(path.join(tmpdir(), 'close-stress-prepack-'));
try {
  const native = path.join(work, 'native');
  cpSync(path.join(root, 'native', 'binding.gyp'), path.join(native, 'binding.gyp'));
  cpSync(path.join(root, 'native', 'src'), path.join(native, 'src'), { recursive: true });
  copyFileSync(path.join(root, 'package.json'), path.join(work, 'package.json')); // binding.gyp reads the version

  const host = `${process.platform}-${process.arch}`;
  // N-API: one build serves every Node from 20 on, so the target is the Node running this.
  run(process.execPath, [
    require.resolve('prebuildify/bin.js'), '--napi', '--strip', '--tag-libc', '--name', 'close-stress',
    '--target', `node@${process.versions.node}`,
  ], { cwd: native });
  const hostDir = path.join(native, 'prebuilds', host);
  const core = path.join(hostDir, 'close-stress-core');
  copyFileSync(path.join(native, 'build', 'Release', 'close-stress-core'), core);
  if (process.platform === 'linux') run('strip', ['--strip-all', core]);
  // The inject preload library is Linux's alone (native/src/inject.c compiles to nothing elsewhere).
  if (process.platform === 'linux') copyFileSync(path.join(native, 'build', 'Release', 'close-stress-inject.so'), path.join(hostDir, 'close-stress-inject.so'));
  cpSync(path.join(native, 'prebuilds'), prebuilds, { recursive: true });

  const sysroot = process.env.FREEBSD_SYSROOT;
  if (sysroot) {
    const out = path.join(work, 'freebsd');
    run(path.join(root, 'scripts', 'check-freebsd-build'), [sysroot], { env: { ...process.env, OUT_DIR: out } });
    const dir = path.join(prebuilds, 'freebsd-x64');
    mkdirSync(dir, { recursive: true });
    copyFileSync(path.join(out, 'close_stress.node'), path.join(dir, 'close-stress.node'));
    copyFileSync(path.join(out, 'close-stress-core'), path.join(dir, 'close-stress-core'));
    chmodSync(path.join(dir, 'close-stress-core'), 0o755);
  } else {
    process.stderr.write('prepack: FREEBSD_SYSROOT not set: no freebsd-x64 prebuild (FreeBSD installs build from source)\n');
  }
  for (const dir of readdirSync(prebuilds)) {
    process.stderr.write(`prepack: native/prebuilds/${dir}: ${readdirSync(path.join(prebuilds, dir)).join(', ')}\n`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

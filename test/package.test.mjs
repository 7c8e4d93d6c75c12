// Installed as users install it: npm pack, then npm install -g of the tarball
// into a clean prefix, with and without install scripts. The tarball carries
// prebuilt binaries, so an install that runs no script still measures.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { root } from './helpers/cli.mjs';

const host = `${process.platform}-${process.arch}`;
const sysroot = process.env.FREEBSD_SYSROOT || '/opt/freebsd13-sysroot';
const crossBuild = existsSync(path.join(sysroot, 'usr', 'include'))
  && ['clang', 'ld.lld', 'file'].every((t) => spawnSync(t, ['--version']).status === 0);
const hasNpm = spawnSync('npm', ['--version']).status === 0;

// Our own npm run (npm test) leaves npm_* variables that would steer the child npm.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
Object.assign(env, { npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' });

let work;
let packed; // npm pack --json: { filename, files: [{ path }] }

function npm(args, options = {}) {
  const r = spawnSync('npm', args, { encoding: 'utf8', env: options.env ?? env, cwd: options.cwd ?? root, timeout: 600_000 });
  assert.equal(r.status, 0, `npm ${args.join(' ')} failed:\n${r.stderr.slice(-3000)}`);
  return r;
}

function install(prefix, extra = []) {
  npm(['install', '-g', '--prefer-offline', '--prefix', prefix, ...extra, path.join(work, packed.filename)], { cwd: work });
  return {
    bin: path.join(prefix, 'bin', 'close-stress'),
    pkg: path.join(prefix, 'lib', 'node_modules', 'close-stress'),
  };
}

function run(file, args) {
  return spawnSync(file, args, { encoding: 'utf8', timeout: 120_000, cwd: work });
}

// Packed from a copy of the tree: prepack deletes and rebuilds dist/, and
// whatever runs from the tree meanwhile (test files run side by side with
// --test-concurrency=2, a developer's own run) would find no dist/ for ~20 s.
const BUILT = new Set(['node_modules', 'dist', '.git', '.stryker-tmp', path.join('native', 'build'), path.join('native', 'prebuilds')]);
let copy;

before(() => {
  if (!hasNpm) return;
  work = mkdtempSync(path.join(tmpdir(), 'close-stress-pack-'));
  copy = path.join(work, 'tree');
  cpSync(root, copy, { recursive: true, filter: (from) => !BUILT.has(path.relative(root, from)) && !from.endsWith('.tgz') });
  symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'));
  const packEnv = { ...env, ...(crossBuild ? { FREEBSD_SYSROOT: sysroot } : {}) };
  const r = npm(['pack', '--json', '--pack-destination', work], { env: packEnv, cwd: copy });
  [packed] = JSON.parse(r.stdout);
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const skip = !hasNpm && 'npm is not installed';

test('npm pack leaves nothing behind in the tree: prebuilds are made for the tarball, not committed', { skip }, () => {
  assert.equal(existsSync(path.join(copy, 'native', 'prebuilds')), false, 'postpack removes native/prebuilds');
  assert.deepEqual(readdirSync(copy).filter((f) => f.endsWith('.tgz')), [], 'the tarball goes to --pack-destination');
  assert.equal(existsSync(path.join(root, 'native', 'prebuilds')), false);
});

test('the tarball holds what an install needs, prebuilt binaries for this machine, and nothing else', { skip }, () => {
  const files = packed.files.map((f) => f.path).sort();
  const allowed = [
    /^package\.json$/, /^README\.md$/, /^LICENSE$/,
    /^bin\/close-stress\.js$/, /^bin\/close-stress\.1$/,
    /^dist\/.+\.js(\.map)?$/, /^src\/.+\.ts$/, // sources because the maps point at them
    /^native\/binding\.gyp$/, /^native\/src\/[^/]+\.[ch]$/,
    /^native\/prebuilds\/[a-z0-9]+-[a-z0-9]+\/(close-stress(\.[a-z0-9]+)*\.node|close-stress-core|[^/]+\.so)$/,
    /^schema\/[^/]+\.schema\.json$/,
    /^scripts\/install\.mjs$/,
  ];
  const stray = files.filter((f) => !allowed.some((re) => re.test(f)));
  assert.deepEqual(stray, [], 'files that do not belong in the tarball');
  for (const f of ['bin/close-stress.js', 'bin/close-stress.1', 'dist/cli.js', 'native/binding.gyp', 'native/src/core.c',
    'schema/result.schema.json', 'scripts/install.mjs', `native/prebuilds/${host}/close-stress-core`]) {
    assert.ok(files.includes(f), `${f} is missing`);
  }
  assert.ok(files.some((f) => new RegExp(`^native/prebuilds/${host}/close-stress[.a-z0-9]*\\.node$`).test(f)), `no addon prebuild for ${host}`);
  // every compiled module comes from a source still in the tree: no leftover of a moved file
  const compiled = files.filter((f) => /^dist\/.+\.js$/.test(f)).map((f) => f.replace(/^dist\//, '').replace(/\.js$/, ''));
  const sources = files.filter((f) => /^src\/.+\.ts$/.test(f) && !f.endsWith('.d.ts')).map((f) => f.replace(/^src\//, '').replace(/\.ts$/, ''));
  assert.deepEqual(compiled.sort(), sources.sort());
});

test('with a FreeBSD sysroot at pack time the tarball carries freebsd-x64 binaries (FreeBSD ELF)', { skip: skip || (!crossBuild && `no FreeBSD cross-build here (sysroot ${sysroot}, clang, ld.lld, file)`) }, () => {
  const x = path.join(work, 'x');
  spawnSync('mkdir', ['-p', x]);
  assert.equal(spawnSync('tar', ['xzf', path.join(work, packed.filename), '-C', x]).status, 0);
  for (const name of ['close-stress.node', 'close-stress-core']) {
    const bytes = readFileSync(path.join(x, 'package', 'native', 'prebuilds', 'freebsd-x64', name));
    assert.equal(bytes.subarray(0, 4).toString('latin1'), '\x7fELF', `${name} is an ELF file`);
    assert.equal(bytes[7], 9, `${name} is marked ELFOSABI_FREEBSD`);
  }
});

test('npm install -g of the tarball: --help, a 1-core step with --json, report on it, and the manual page', { skip }, () => {
  const prefix = path.join(work, 'prefix');
  const { bin } = install(prefix);
  const help = run(bin, ['--help']);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: close-stress /m);
  const json = path.join(work, 'one.json');
  const step = run(bin, ['--cores', '1', '--no-sweep', '--iterations', '2000', '-q', '--json', json]);
  assert.equal(step.status, 0, step.stderr);
  const result = JSON.parse(readFileSync(json, 'utf8'));
  assert.deepEqual(result.steps.map((s) => [s.cores, s.trials]), [[1, 2000]]);
  const report = run(bin, ['report', json]);
  assert.equal(report.status, 0, report.stderr);
  assert.match(report.stdout, /^ +1 +1 +2,000 /m);
  assert.ok(existsSync(path.join(prefix, 'share', 'man', 'man1', 'close-stress.1')), 'man close-stress finds the page');
});

test('installed with --ignore-scripts (nothing compiled), the prebuilt addon and close-stress-core run here', { skip }, () => {
  const prefix = path.join(work, 'noscripts');
  const { bin, pkg } = install(prefix, ['--ignore-scripts']);
  assert.equal(existsSync(path.join(pkg, 'native', 'build')), false, 'no source build: what runs is the prebuild');
  const json = path.join(work, 'noscripts.json');
  const step = run(bin, ['--cores', '1', '--no-sweep', '--iterations', '2000', '-q', '--json', json]);
  assert.equal(step.status, 0, step.stderr);
  const [s] = JSON.parse(readFileSync(json, 'utf8')).steps;
  assert.equal(s.trials, 2000);
  assert.equal(s.posix.close.attempts, 2000);
  const journal = path.join(work, 'core.jsonl');
  const core = run(path.join(pkg, 'native', 'prebuilds', host, 'close-stress-core'), ['--cores', '1', '--iterations', '1000', '--journal', journal]);
  assert.equal(core.status, 0, core.stderr);
  const report = run(bin, ['report', journal]);
  assert.equal(report.status, 0, report.stderr);
  assert.match(report.stdout, /^ +1 +1 +1,000 /m);
  if (process.platform === 'linux') {
    // inject finds the prebuilt preload library: a command with no TCP socket runs and is named as not tested.
    const inject = run(bin, ['inject', '--', 'true']);
    assert.equal(inject.status, 0, inject.stderr);
    assert.doesNotMatch(inject.stderr, /not built/);
    assert.match(inject.stderr, /NOT TESTED/);
  }
});

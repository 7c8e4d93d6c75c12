// A real `git bisect run` over a throwaway repository whose commits stand for
// kernels: from one commit on, the "kernel" returns ECONNRESET from close()
// (the LD_PRELOAD shim, standing in for FreeBSD's kern/159179). The bisect
// script is the README's recipe line, with the tool on PATH as `close-stress`
// and `vm` replaced by a stand-in that boots the commit's "kernel". Bisect must
// name exactly the first bad commit, or abort; never blame another one.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bin, buildShim, root, tempDir } from './helpers/cli.mjs';

const COMMITS = 10;
const FIRST_BAD = 7; // 1-based: commits 7..10 carry the bug

/** The README's `vm close-stress ...` line (with its continuation), as a user would paste it. */
function readmeRecipe() {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const m = /^ {4}vm close-stress .*\\\n {8}.*$/m.exec(readme);
  assert.ok(m, 'README has the bisect recipe line `vm close-stress ... \\` with its continuation');
  return m[0].trim();
}

/** The recipe, sized for a test: one small step, results in `out` instead of /var/tmp. */
function scaledRecipe(out) {
  const line = readmeRecipe();
  assert.match(line, /--cores 8 --iterations 2e5 /);
  assert.match(line, /\/var\/tmp\//);
  return line.replace('--cores 8 --iterations 2e5', '--cores 1 --iterations 2000').replaceAll('/var/tmp/', `${out}/`);
}

function git(cwd, ...args) {
  return execFileSync('git', args, { cwd, encoding: 'utf8', env: gitEnv(), stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function gitEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  for (const k of Object.keys(env)) if (k.startsWith('GIT_')) delete env[k];
  return {
    ...env,
    GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.invalid', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.invalid',
    GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null',
  };
}

/** A repository of COMMITS commits; `kernel` says whether close() misbehaves at that commit. */
function kernelRepo(dir) {
  const repo = path.join(dir, 'kernel');
  mkdirSync(repo);
  git(repo, 'init', '-q');
  const shas = [];
  for (let i = 1; i <= COMMITS; i++) {
    writeFileSync(path.join(repo, 'kernel'), i >= FIRST_BAD ? 'close-returns-econnreset\n' : 'posix-close\n');
    writeFileSync(path.join(repo, 'version'), `${i}\n`);
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', `commit ${i}`);
    shas.push(git(repo, 'rev-parse', 'HEAD'));
  }
  return { repo, shas };
}

/**
 * PATH with `close-stress` laid out as `npm install -g .` / `npm link` leave
 * it (PREFIX/bin/close-stress -> ../lib/node_modules/close-stress/bin/close-stress.js,
 * and that package a link to the clone), and `vm`: runs its command on this
 * commit's "kernel".
 */
function tools(dir) {
  const binDir = path.join(dir, 'bin');
  mkdirSync(binDir);
  mkdirSync(path.join(dir, 'lib', 'node_modules'), { recursive: true });
  symlinkSync(root, path.join(dir, 'lib', 'node_modules', 'close-stress'));
  symlinkSync(path.join('..', 'lib', 'node_modules', 'close-stress', path.relative(root, bin)), path.join(binDir, 'close-stress'));
  writeFileSync(path.join(binDir, 'vm'), `#!/bin/sh
if grep -q close-returns-econnreset kernel; then LD_PRELOAD='${buildShim()}'; export LD_PRELOAD; fi
exec "$@"
`);
  chmodSync(path.join(binDir, 'vm'), 0o755);
  return `${binDir}:${process.env.PATH}`;
}

function bisect(repo, shas, script, PATH) {
  const scriptPath = path.join(path.dirname(repo), `step-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(scriptPath, `#!/bin/sh\n${script}\n`);
  chmodSync(scriptPath, 0o755);
  git(repo, 'bisect', 'start', shas.at(-1), shas[0]);
  const r = spawnSync('git', ['bisect', 'run', scriptPath], { cwd: repo, encoding: 'utf8', env: gitEnv({ PATH }), timeout: 240_000 });
  const named = /^([0-9a-f]{40}) is the first bad commit/m.exec(r.stdout)?.[1];
  git(repo, 'bisect', 'reset');
  return { ...r, named, output: r.stdout + r.stderr };
}

// One throwaway repository, tool layout and first bisection, shared by the
// tests below (each run of the recipe is a bisection of four CLI runs).
let shared;
after(() => shared && rmSync(shared.dir, { recursive: true, force: true }));
function firstRun() {
  if (shared) return shared;
  const dir = mkdtempSync(path.join(tmpdir(), 'close-stress-test-'));
  const out = path.join(dir, 'out');
  mkdirSync(out);
  const { repo, shas } = kernelRepo(dir);
  const PATH = tools(dir);
  shared = { dir, out, repo, shas, PATH, first: bisect(repo, shas, scaledRecipe(out), PATH) };
  return shared;
}

test('git bisect run with the README recipe names exactly the first commit whose close() returns ECONNRESET', () => {
  const { out, repo, shas, PATH, first: r } = firstRun();
  assert.equal(r.status, 0, r.output);
  assert.equal(r.named, shas[FIRST_BAD - 1], `bisect must name commit ${FIRST_BAD}:\n${r.output}`);
  assert.match(r.output, /bisect: bad: 1 cores: close:ECONNRESET/);
  assert.match(r.output, /bisect: good: close:ECONNRESET: 0 in 2,000 close\(\) calls: rate below 1\.5e-3 at 95%/);
  assert.ok(readdirSync(out).some((f) => /^bisect-[0-9a-f]+\.json$/.test(f)), 'each step leaves its result for the record');

  // Rerun over the same output files: the recipe is safe to run twice.
  const again = bisect(repo, shas, scaledRecipe(out), PATH);
  assert.equal(again.status, 0, again.output);
  assert.equal(again.named, shas[FIRST_BAD - 1], `a rerun must name commit ${FIRST_BAD} again:\n${again.output}`);
});

test('rerun without --force over existing results aborts the bisection instead of blaming a commit', () => {
  const { out, repo, shas, PATH, first } = firstRun();
  assert.equal(first.named, shas[FIRST_BAD - 1], 'the first run finds the commit');
  assert.ok(readdirSync(out).length > 0, 'the first run left its results');
  const unforced = scaledRecipe(out).replace(' --force', '');
  const again = bisect(repo, shas, unforced, PATH);
  assert.equal(again.named, undefined, `no commit may be named when every result file exists:\n${again.output}`);
  assert.notEqual(again.status, 0);
  assert.match(again.output, /already exists; pass --force.*bisect aborted.*exit 128/);
  assert.match(again.output, /bisect run failed/);
});

test('a typo in a flag aborts git bisect run (exit 128) and names no commit', () => {
  const { dir, repo, shas, PATH } = firstRun();
  const out = path.join(dir, 'out-typo');
  mkdirSync(out);
  const typo = scaledRecipe(out).replace('--iterations', '--iteration');
  const r = bisect(repo, shas, typo, PATH);
  assert.equal(r.named, undefined, `a usage error must never turn into a verdict:\n${r.output}`);
  assert.notEqual(r.status, 0);
  assert.match(r.output, /close-stress: error: unknown option '--iteration'.*bisect aborted.*exit 128\)\n/);
  assert.match(r.output, /bisect run failed/);
  assert.deepEqual(readdirSync(out), [], 'nothing ran');
});

/** A copy of the installed tool without `missing` (dist/ or the native addon), node_modules shared. */
function brokenInstall(dir, missing) {
  const copy = path.join(dir, 'install');
  mkdirSync(copy);
  for (const part of ['bin', 'package.json', ...(missing === 'dist' ? [] : ['dist'])]) cpSync(path.join(root, part), path.join(copy, part), { recursive: true });
  symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'));
  return path.join(copy, 'bin', 'close-stress.js');
}

for (const missing of ['dist', 'native']) {
  test(`under --fail-on a tool not built (${missing === 'dist' ? 'no dist/' : 'no native addon'}) aborts the bisection: exit 128, never 1 or 125`, (t) => {
    const copy = brokenInstall(tempDir(t), missing);
    const r = spawnSync(process.execPath, [copy, '--cores', '1', '--iterations', '100', '-q', '--fail-on', 'ECONNRESET'], { encoding: 'utf8' });
    assert.equal(r.status, 128, r.stderr);
    assert.match(r.stderr, /^close-stress: error: .*not built.*bisect aborted.*exit 128\)\n$/);
    const plain = spawnSync(process.execPath, [copy, '--cores', '1', '--iterations', '100', '-q'], { encoding: 'utf8' });
    assert.equal(plain.status, 1, `outside bisect mode a broken install exits 1: ${plain.stderr}`);
  });
}

test('outside bisect mode a usage error still exits 2; under --fail-on/--fail-above it exits 128', () => {
  const typo = spawnSync(process.execPath, [bin, '--iteration', '2e4', '-q'], { encoding: 'utf8' });
  assert.equal(typo.status, 2, typo.stderr);
  assert.equal(typo.stderr, "close-stress: error: unknown option '--iteration' (Did you mean --iterations?)\n");
  for (const flag of [['--fail-on', 'ECONNRESET'], ['--fail-above=1e-3']]) {
    const r = spawnSync(process.execPath, [bin, '--iteration', '2e4', '-q', ...flag], { encoding: 'utf8' });
    assert.equal(r.status, 128, r.stderr);
  }
});

test('a good verdict states what it rules out: the zero-event bound, or the highest step rate and its 95% upper limit', async () => {
  const { judge } = await import('../dist/report/bisect.js');
  const step = (cores, ok, resets) => ({
    cores, calls: { close: { ok, errors: resets ? { ECONNRESET: resets } : {} } },
    posix: { close: { attempts: ok + resets, outside: resets } },
  });
  const rule = { failOn: [{ call: 'close', errno: 'ECONNRESET' }], above: 0 };
  const clean = judge({ status: 'completed', steps: [step(1, 20000, 0), step(2, 20000, 0)] }, rule);
  assert.deepEqual(clean, { exitCode: 0, reason: 'good: close:ECONNRESET: 0 in 40,000 close() calls: rate below 7.5e-5 at 95%; each step below 1.5e-4 (fewest: 20,000 at 1 core)' });
  const rare = judge({ status: 'completed', steps: [step(1, 99990, 10), step(4, 100000, 0)] }, { ...rule, above: 1e-3 });
  assert.equal(rare.exitCode, 0);
  // Wilson 95% upper limit of 10 in 100,000, by hand: centre 1.192e-4 + half-width 6.49e-5 = 1.84e-4
  assert.equal(rare.reason, 'good: close:ECONNRESET: 10 in 200,000 close() calls; highest step 1 core: 1.00e-4 (95% up to 1.8e-4), at or below 0.001');
});

// --tap: kernel CI harnesses (kselftest/KernelCI read KTAP, kyua runs TAP
// programs) take one test point per step and the kselftest exit codes. The
// documents are parsed by prove / TAP::Parser (Debian's perl), not by regexes only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildShim, runCli, tempDir } from './helpers/cli.mjs';

const hasProve = spawnSync('prove', ['--version']).status === 0
  && spawnSync('perl', ['-MTAP::Parser', '-e', '1']).status === 0;
const noProve = !hasProve && 'prove / TAP::Parser (Debian: perl) is not installed';
const shim = buildShim();

/** TAP::Parser's reading of a document: counts, plan, skip-all, and each point's YAML trials. */
function parse(t, tap) {
  const file = path.join(tempDir(t), 'out.tap');
  writeFileSync(file, tap);
  const script = `
    use TAP::Parser;
    local $/; open my $f, '<', $ARGV[0] or die; my $tap = <$f>;
    my $p = TAP::Parser->new({ tap => $tap });
    my @trials;
    while (my $r = $p->next) { push @trials, $r->data->{trials} // '-' if $r->is_yaml; }
    print join(' ', 'passed=' . scalar($p->passed), 'failed=' . scalar($p->failed),
      'skipped=' . scalar($p->skipped), 'planned=' . ($p->tests_planned // 0),
      'skip_all=' . ($p->skip_all ? 1 : 0), 'good_plan=' . ($p->is_good_plan ? 1 : 0),
      'parse_errors=' . scalar($p->parse_errors), 'trials=' . join(',', @trials)), "\\n";
  `;
  const r = spawnSync('perl', ['-e', script, file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return Object.fromEntries(r.stdout.trim().split(' ').map((kv) => kv.split('=')));
}

/** prove as a harness runs it: a test program whose stdout is the TAP and whose exit status counts. */
function prove(t, args, env = {}) {
  const dir = tempDir(t);
  const program = path.join(dir, 'close-stress.t');
  const cli = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'bin', 'close-stress.js');
  const envs = Object.entries(env).map(([k, v]) => `${k}='${v}'`).join(' ');
  writeFileSync(program, `#!/bin/sh\n${envs} exec '${process.execPath}' '${cli}' ${args.join(' ')} 2>/dev/null\n`, { mode: 0o755 });
  return spawnSync('prove', ['--exec', '/bin/sh', program], { encoding: 'utf8', cwd: dir, timeout: 120_000 });
}

test('--tap: a plan line, one ok test point per step with its figures as YAML, the table on stderr, exit 0', { skip: noProve }, (t) => {
  const json = path.join(tempDir(t), 'r.json');
  const r = runCli(['--cores', '2', '--iterations', '2000', '-q', '--tap', '--json', json]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'TAP version 13');
  assert.equal(lines[1], '1..2');
  assert.match(r.stdout, /^ok 1 - 1 core: close\(\) within POSIX in 2000 victim closes$/m);
  assert.match(r.stdout, /^ok 2 - 2 cores: /m);
  assert.match(r.stderr, /^verdict: /m, 'the table goes to stderr');
  assert.deepEqual(parse(t, r.stdout), {
    passed: '2', failed: '0', skipped: '0', planned: '2', skip_all: '0', good_plan: '1', parse_errors: '0', trials: '2000,2000',
  });
  const saved = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(saved.steps.length, 2, '--json still saves the run');
  const p = prove(t, ['--cores', '2', '--iterations', '2000', '-q', '--tap']);
  assert.equal(p.status, 0, p.stdout + p.stderr);
  assert.match(p.stdout, /Result: PASS/);
});

test('--tap: a step whose victim close() returns ECONNRESET (shim) is not ok by the POSIX verdict, exit 1, and prove fails it', { skip: noProve }, (t) => {
  const env = { LD_PRELOAD: shim, CLOSE_SHIM_MODE: 'release' };
  const r = runCli(['--cores', '1', '--iterations', '2000', '-q', '--tap'], { env });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /^not ok 1 - 1 core: outside POSIX: close\(\) ECONNRESET \d+ in 2000$/m);
  assert.match(r.stdout, /^ {6}outsidePosix: [1-9]\d*$/m);
  const parsed = parse(t, r.stdout);
  assert.equal(parsed.failed, '1');
  assert.equal(parsed.parse_errors, '0');
  const p = prove(t, ['--cores', '1', '--iterations', '2000', '-q', '--tap'], env);
  assert.notEqual(p.status, 0);
  assert.match(p.stdout, /Result: FAIL/);
});

test('--tap with --fail-on judges each step by that rule instead: ECONNRESET everywhere but --fail-on EBADF is ok, exit 0', (t) => {
  const r = runCli(['--cores', '1', '--iterations', '2000', '-q', '--tap', '--fail-on', 'EBADF'], {
    env: { LD_PRELOAD: shim, CLOSE_SHIM_MODE: 'release' },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok 1 - 1 core: close:EBADF: 0 in 2,000 close\(\) calls: rate below 1\.5e-3 at 95%$/m);
});

test('--tap when no step could measure: "1..0 # SKIP" with the reason, each step\'s reason as a comment, exit 4 (KSFT_SKIP)', { skip: noProve }, (t) => {
  const r = runCli(['--cores', '2', '--iterations', '300', '-q', '--tap'], {
    env: { LD_PRELOAD: shim, CLOSE_SHIM_FAIL_CONNECT_EVERY: '1' },
  });
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stdout, /^1\.\.0 # SKIP could not measure: no victim close\(\) was made$/m);
  assert.match(r.stdout, /^# 2 cores: not run: 1-core step: every trial's setup failed/m);
  const parsed = parse(t, r.stdout);
  assert.equal(parsed.skip_all, '1');
  assert.equal(parsed.parse_errors, '0');
});

test('report FILE --tap: a saved result and its journal give the same test points; a step skipped before it ran is "ok # SKIP"', { skip: noProve }, (t) => {
  const dir = tempDir(t);
  const json = path.join(dir, 'r.json');
  const run = runCli(['--cores', '2', '--iterations', '1000', '-q', '--json', json]);
  assert.equal(run.code, 0, run.stderr);
  const fromJson = runCli(['report', json, '--tap']);
  const fromJournal = runCli(['report', `${json}.jsonl`, '--tap']);
  assert.equal(fromJson.code, 0, fromJson.stderr);
  assert.equal(fromJournal.code, 0, fromJournal.stderr);
  const points = (out) => out.split('\n').filter((l) => /^(not )?ok /.test(l));
  assert.deepEqual(points(fromJournal.stdout), points(fromJson.stdout));
  assert.equal(points(fromJson.stdout).length, 2);

  // The descriptor limit (or any planned refusal) drops a step before it runs: it is a skip, not a pass.
  const saved = JSON.parse(readFileSync(json, 'utf8'));
  saved.options.cores = [1, 2, 4];
  saved.skipped = [{ cores: 4, reason: 'needs 40 descriptors, the limit allows 20' }];
  const edited = path.join(dir, 'skipped.json');
  writeFileSync(edited, JSON.stringify(saved));
  const r = runCli(['report', edited, '--tap']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^1\.\.3$/m);
  assert.match(r.stdout, /^ok 3 - 4 cores # SKIP needs 40 descriptors, the limit allows 20$/m);
  assert.match(r.stdout, /^# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:1 error:0$/m);
  const parsed = parse(t, r.stdout);
  assert.deepEqual([parsed.passed, parsed.skipped, parsed.failed, parsed.good_plan], ['3', '1', '0', '1']);
});

const wrapper = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'scripts', 'close-stress-tap.sh');
const cliPath = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'bin', 'close-stress.js');

test('the kselftest-style wrapper (scripts/close-stress-tap.sh) runs under prove with its settings from the environment', { skip: noProve }, (t) => {
  const env = { ...process.env, CLOSE_STRESS: `${process.execPath} ${cliPath}`, CLOSE_STRESS_CORES: '1', CLOSE_STRESS_ITERATIONS: '1000' };
  const direct = spawnSync(wrapper, [], { encoding: 'utf8', env, timeout: 120_000 });
  assert.equal(direct.status, 0, direct.stderr);
  assert.match(direct.stdout, /^1\.\.1\nok 1 - 1 core: close\(\) within POSIX in 1000 victim closes$/m);
  const p = spawnSync('prove', ['--exec', '/bin/sh', wrapper], { encoding: 'utf8', env, cwd: tempDir(t), timeout: 120_000 });
  assert.equal(p.status, 0, p.stdout + p.stderr);
  assert.match(p.stdout, /Result: PASS/);
});

test('the wrapper skips (1..0 # SKIP, exit 4) where close-stress is not installed, as kselftest asks of unmet dependencies', () => {
  const r = spawnSync(wrapper, [], { encoding: 'utf8', env: { ...process.env, CLOSE_STRESS: '/nonexistent/close-stress' } });
  assert.equal(r.status, 4);
  assert.equal(r.stdout, 'TAP version 13\n1..0 # SKIP /nonexistent/close-stress not found (npm install -g close-stress, or set CLOSE_STRESS)\n');
});

test('the example Kyuafile registers the wrapper as a TAP test program, as Kyuafile(5) describes', () => {
  const kyuafile = readFileSync(path.join(path.dirname(wrapper), 'Kyuafile'), 'utf8');
  assert.match(kyuafile, /^syntax\(2\)$/m);
  assert.match(kyuafile, /^test_suite\('close-stress'\)$/m);
  assert.match(kyuafile, /^tap_test_program\{name='close-stress-tap\.sh',/m);
});

// No measured result is cut short: every output is written whole or not at
// all, and said so on one line; two outputs never share a file; a flag's file
// value is never another flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bin, tempDir } from './helpers/cli.mjs';

const TINY = ['--cores', '2', '--iterations', '2000', '-q'];
const NO_STACK = /^\s+at |node:internal/m;

/** `close-stress ARGS` in `cwd`, optionally under a shell prefix (`ulimit -f 6;`). */
function cli(args, { cwd, shell } = {}) {
  const quoted = args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const r = shell
    ? spawnSync('bash', ['-c', `${shell} exec '${process.execPath}' '${bin}' ${quoted}`], { cwd, encoding: 'utf8', timeout: 120_000 })
    : spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const jsonLines = (file) => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));

/** Two saved runs to compare and report on. */
function twoResults(dir) {
  const files = ['base.json', 'new.json'].map((f) => path.join(dir, f));
  for (const f of files) assert.equal(cli([...TINY, '--json', f]).status, 0);
  return files;
}

test('a result that does not fit under the file size limit (ulimit -f) fails loudly and leaves no cut-off file', (t) => {
  const dir = tempDir(t);
  const json = path.join(dir, 'a.json');
  // 6 KiB: the journal (about 3.6 KiB) fits, the result (about 11 KiB) does not.
  const r = cli([...TINY, '--json', json], { shell: 'ulimit -f 6;' });
  assert.equal(r.signal, null, 'Node ignores SIGXFSZ: the write fails with EFBIG instead of killing the run');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /^verdict: /m, 'the table is still printed');
  assert.equal(r.stderr, `close-stress: could not save the result: cannot write ${json}: EFBIG (file too large)\n`);
  assert.equal(existsSync(json), false, 'no truncated result at the final path');
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temp file left');
  assert.deepEqual(jsonLines(`${json}.jsonl`).map((l) => l.type), ['run', 'step', 'step', 'end'], 'the journal has the whole run');
});

test('under --fail-on a result that cannot be saved aborts the bisection (exit 128): a full disk is no verdict on the commit', (t) => {
  const json = path.join(tempDir(t), 'a.json');
  const r = cli([...TINY, '--fail-on', 'ECONNRESET', '--json', json], { shell: 'ulimit -f 6;' });
  assert.equal(r.status, 128, r.stderr);
  assert.equal(r.stderr, `close-stress: could not save the result: cannot write ${json}: EFBIG (file too large) (bisect aborted: this says nothing about the commit, exit 128)\n`);
});

test('a journal that hits the file size limit keeps whole lines only and is reported with its path and errno', (t) => {
  const dir = tempDir(t);
  const journal = path.join(dir, 'j.jsonl');
  // 2 KiB: the header fits, the first step's line does not.
  const r = cli([...TINY, '--journal', journal], { shell: 'ulimit -f 2;' });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr, `close-stress: could not save the journal: cannot write ${journal}: EFBIG (file too large) (the steps before it are in it)\n`);
  const text = readFileSync(journal, 'utf8');
  assert.ok(text.endsWith('\n'), 'no line cut off at the end');
  assert.deepEqual(jsonLines(journal).map((l) => l.type), ['run'], 'every line left is a whole record');
});

test('compare --json / --html and report --html that cannot be written whole exit 1 naming the file and errno, and leave none', (t) => {
  const dir = tempDir(t);
  const [base, next] = twoResults(dir);
  const out = path.join(dir, 'out');
  mkdirSync(out);
  const cases = [
    ['compare', base, next, '--json', path.join(out, 'cmp.json')],
    ['compare', base, next, '--html', path.join(out, 'cmp.html')],
    ['report', base, '--html', path.join(out, 'r.html')],
  ];
  for (const args of cases) {
    const file = args.at(-1);
    const r = cli(args, { shell: 'ulimit -f 2;' });
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, `close-stress: error: cannot write ${file}: EFBIG (file too large)\n`);
    assert.doesNotMatch(r.stderr, NO_STACK);
  }
  assert.deepEqual(readdirSync(out), [], 'no cut-off file and no temp file');
});

/** Runs `script` (bash) with a tmpfs of `size` at `mountPoint` in a private mount namespace; undefined when that cannot be made. */
function inTinyTmpfs(mountPoint, size, script) {
  const r = spawnSync('unshare', ['-m', 'bash', '-c', `mount -t tmpfs -o size=${size} tmpfs '${mountPoint}' || exit 99; ${script}`], { encoding: 'utf8', timeout: 120_000 });
  return r.error || r.status === 99 || /unshare failed|Operation not permitted/.test(r.stderr) ? undefined : r;
}

const CAN_UNSHARE = (() => {
  const probe = path.join(process.env.TMPDIR ?? '/tmp', `close-stress-unshare-probe-${process.pid}`);
  mkdirSync(probe, { recursive: true });
  try {
    return inTinyTmpfs(probe, '4k', 'true')?.status === 0;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
})();

test('a result that does not fit on a full file system (ENOSPC, tmpfs in a private mount namespace) fails loudly, no file left', { skip: !CAN_UNSHARE && 'needs unshare -m and mount -t tmpfs (root or user namespaces)' }, (t) => {
  const dir = tempDir(t);
  const disk = path.join(dir, 'disk');
  mkdirSync(disk);
  const json = path.join(disk, 'a.json');
  const journal = path.join(dir, 'j.jsonl');
  const r = inTinyTmpfs(disk, '4k', `'${process.execPath}' '${bin}' ${TINY.join(' ')} --json '${json}' --journal '${journal}'; echo "exit=$?"; ls -A '${disk}'`);
  assert.ok(r, 'the namespace was made once already');
  assert.match(r.stdout, /^exit=1$/m, r.stderr);
  assert.equal(r.stderr, `close-stress: could not save the result: cannot write ${json}: ENOSPC (no space left on device)\n`);
  assert.equal(r.stdout.split(/^exit=1\n/m)[1], '', 'the full file system holds neither the result nor a temp file');
  assert.deepEqual(jsonLines(journal).map((l) => l.type), ['run', 'step', 'step', 'end'], 'the journal elsewhere is whole');
});

test('two outputs that resolve to one file are refused before anything runs, in one line, exit 2', (t) => {
  const dir = tempDir(t);
  const f = (name) => path.join(dir, name);
  writeFileSync(f('existing'), '');
  symlinkSync(f('existing'), f('link'));
  const cases = [
    [['--journal', f('x'), '--log-file', f('x')], `--journal ${f('x')} and --log-file ${f('x')} are the same file`],
    [['--json', f('a.json'), '--log-file', f('a.json.jsonl')], `--json (its journal) ${f('a.json.jsonl')} and --log-file ${f('a.json.jsonl')} are the same file`],
    [['--json', f('a.json'), '--journal', f('a.json')], `--json ${f('a.json')} and --journal ${f('a.json')} are the same file`],
    [['--json', f('b.json'), '--journal', path.join(dir, '.', 'sub', '..', 'b.json')], 'are the same file'],
    [['--log-file', f('existing'), '--journal', f('link'), '--force'], `--journal ${f('link')} and --log-file ${f('existing')} are the same file`],
  ];
  mkdirSync(f('sub'));
  for (const [args, message] of cases) {
    const r = cli([...TINY, ...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.split('\n').length, 2, r.stderr);
    assert.ok(r.stderr.startsWith('close-stress: error: ') && r.stderr.includes(message), r.stderr);
    assert.equal(r.stdout, '', 'nothing ran');
  }
  assert.deepEqual(readdirSync(dir).sort(), ['existing', 'link', 'sub'], 'no output was created');
  assert.equal(statSync(f('existing')).size, 0);

  const [base, next] = twoResults(f('sub'));
  const r = cli(['compare', base, next, '--json', f('cmp'), '--html', f('cmp')]);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr, `close-stress: error: --json ${f('cmp')} and --html ${f('cmp')} are the same file; give each output its own file\n`);

  // An output over an input would overwrite the run it reads: refused even with --force, the input intact.
  const kept = readFileSync(base, 'utf8');
  const same = path.join(dir, 'sub', '.', 'base.json');
  for (const args of [['report', base, '--html', base, '--force'], ['report', `${base}.jsonl`, '--html', `${base}.jsonl`, '--force'],
    ['compare', next, base, '--json', same, '--force'], ['compare', base, next, '--html', base, '--force']]) {
    const o = cli(args);
    assert.equal(o.status, 2, `${args.join(' ')}: ${o.stderr}`);
    assert.match(o.stderr, /^close-stress: error: the input \S+ and --(html|json) \S+ are the same file; give each output its own file\n$/, args.join(' '));
    assert.equal(o.stdout, '', 'nothing was reported');
  }
  assert.equal(readFileSync(base, 'utf8'), kept, 'the input is unchanged');
});

test('a file-valued flag refuses a value that starts with "-" (a flag swallowed), unless written --flag=./-name', (t) => {
  const dir = tempDir(t);
  const cases = [
    [[...TINY, '--json', '-q'], "--json needs a file name, not '-q' (for a file whose name starts with '-', write --json=./-q)"],
    [['--cores', '1', '--iterations', '100', '--json', '--force'], "--json needs a file name, not '--force'"],
    [[...TINY, '--journal', '-q'], "--journal needs a file name, not '-q'"],
    [[...TINY, '--log-file', '--quiet'], "--log-file needs a file name, not '--quiet'"],
  ];
  for (const [args, message] of cases) {
    const r = cli(args, { cwd: dir });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.startsWith(`close-stress: error: ${message}`) && r.stderr.split('\n').length === 2, r.stderr);
  }
  const [base, next] = twoResults(dir);
  for (const args of [['report', base, '--html', '-q'], ['compare', base, next, '--json', '-x'], ['compare', base, next, '--html', '--force']]) {
    const r = cli(args, { cwd: dir });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^close-stress: error: --(html|json) needs a file name, not '-/);
  }
  assert.deepEqual(readdirSync(dir).sort(), ['base.json', 'base.json.jsonl', 'new.json', 'new.json.jsonl'], 'no file named like a flag');

  const ok = cli(['--cores', '1', '--iterations', '100', '-q', '--json=./-q'], { cwd: dir });
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(JSON.parse(readFileSync(path.join(dir, '-q'), 'utf8')).status, 'completed', '--json=./-q names the file -q');
  assert.ok(existsSync(path.join(dir, '-q.jsonl')));
});
